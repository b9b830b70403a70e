#!/usr/bin/env bash
# Runs the whole test suite with JDK 25 (found like ./kvdecode finds it), then each fuzz target for
# a short bounded time (-Pfuzz, 10 s each; docs/FUZZING.md; a finding fails the run). Extra args go
# to Maven, e.g. -Dfuzz.duration=2s, or -P-fuzz to leave the fuzzing runs out.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/javac" ]] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -qE 'version "(2[2-9]|[3-9][0-9])'; then
  for cand in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    if [[ -x "$cand/bin/javac" ]] && "$cand/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])'; then
      export JAVA_HOME="$cand"; break
    fi
  done
fi
[[ -n "${JAVA_HOME:-}" ]] || { echo "test.sh: no JDK 25 found under /usr/lib/jvm; set JAVA_HOME" >&2; exit 2; }
echo "test.sh: JAVA_HOME=$JAVA_HOME" >&2
cd "$ROOT"
exec mvn -B verify -Pfuzz "$@"
