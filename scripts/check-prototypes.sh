#!/usr/bin/env bash
# Proves the FFM bindings against the real C headers, on a machine without a GPU (issue 3).
#
# 1. compiles the bindings module's Java sources (JDK only) unless KVDECODE_BINDINGS_CLASSES
#    points at compiled classes;
# 2. runs dev.kvdecode.bindings.PrototypeCheck, which writes a C file from the binding classes'
#    quoted prototypes and FunctionDescriptors (so the check cannot drift from the bindings);
# 3. compiles that file with gcc -Werror against /usr/local/cuda/include/cuda.h and cuBLAS's
#    cublas_v2.h / cublas_api.h: any prototype, symbol-name or descriptor mismatch fails.
#
# cuBLAS headers are not in the toolkit here: they come from the nvidia-cublas wheel (local pip
# index, see GPU-CONTRACT.md), unzipped once into $KVDECODE_CACHE (default ~/.cache/kvdecode).
# Set CUBLAS_INCLUDE to a folder holding cublas_v2.h to use another copy.
#
# Usage: check-prototypes.sh               run the check
#        check-prototypes.sh --print-includes   print the -I flags (fetching headers if needed)
# Exit:  0 passed, 1 a mismatch (or internal failure), 3 skipped: gcc, cuda.h or cuBLAS headers missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CUDA_INCLUDE="${CUDA_INCLUDE:-${CUDA_HOME:-/usr/local/cuda}/include}"
CACHE="${KVDECODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvdecode}"

skip() { echo "check-prototypes: SKIPPED: $*" >&2; exit 3; }

find_cublas_include() {
  local d
  for d in "${CUBLAS_INCLUDE:-}" "$CUDA_INCLUDE" "$CACHE/cublas/nvidia/cu13/include" "$ROOT/target/cublas/nvidia/cu13/include"; do
    [[ -n "$d" && -f "$d/cublas_v2.h" ]] && { echo "$d"; return 0; }
  done
  # Fetch the wheel from the local index and unzip only its headers.
  command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || return 1
  command -v unzip >/dev/null 2>&1 || return 1
  local tmp; tmp="$(mktemp -d)"
  local args=(--no-deps --disable-pip-version-check -q -d "$tmp")
  [[ -z "${PIP_INDEX_URL:-}" && -d /opt/pypi/simple ]] && args+=(--index-url file:///opt/pypi/simple)
  # The wheel sits in a second local index on these machines.
  [[ -d /opt/pypi-more/simple ]] && args+=(--extra-index-url file:///opt/pypi-more/simple)
  if timeout 180 python3 -m pip download "${args[@]}" nvidia-cublas >/dev/null 2>&1; then
    local whl; whl="$(ls "$tmp"/nvidia_cublas-*.whl 2>/dev/null | head -1)"
    if [[ -n "$whl" ]]; then
      mkdir -p "$CACHE/cublas"
      unzip -q -o "$whl" 'nvidia/cu13/include/*' -d "$CACHE/cublas" && rm -rf "$tmp"
      [[ -f "$CACHE/cublas/nvidia/cu13/include/cublas_v2.h" ]] && { echo "$CACHE/cublas/nvidia/cu13/include"; return 0; }
    fi
  fi
  rm -rf "$tmp"
  return 1
}

[[ -f "$CUDA_INCLUDE/cuda.h" ]] || skip "no cuda.h in $CUDA_INCLUDE (set CUDA_HOME or CUDA_INCLUDE)"
CUBLAS_INC="$(find_cublas_include)" || skip "no cuBLAS headers (set CUBLAS_INCLUDE, or make 'pip download nvidia-cublas' work)"
INCLUDES="-I$CUDA_INCLUDE -I$CUBLAS_INC"
if [[ "${1:-}" == "--print-includes" ]]; then echo "$INCLUDES"; exit 0; fi

CC="${CC:-gcc}"
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"

# Find a JDK 25 as scripts/test.sh does.
if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/javac" ]]; then
  for cand in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    if [[ -x "$cand/bin/javac" ]] && "$cand/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])'; then
      export JAVA_HOME="$cand"; break
    fi
  done
fi
[[ -n "${JAVA_HOME:-}" ]] || { echo "check-prototypes: no JDK 25 found; set JAVA_HOME" >&2; exit 1; }

WORK="$ROOT/bindings/target/prototype-check"
mkdir -p "$WORK"
CLASSES="${KVDECODE_BINDINGS_CLASSES:-}"
if [[ -z "$CLASSES" ]]; then
  CLASSES="$WORK/classes"
  rm -rf "$CLASSES"
  "$JAVA_HOME/bin/javac" -nowarn -d "$CLASSES" $(find "$ROOT/bindings/src/main/java" -name '*.java')
fi
"$JAVA_HOME/bin/java" -cp "$CLASSES" dev.kvdecode.bindings.PrototypeCheck "$WORK/prototypes.c"
n=$(grep -c '^static ' "$WORK/prototypes.c")
# -std=c11 for _Static_assert; -Werror turns "incompatible pointer type" into a failure.
"$CC" -std=c11 -Wall -Wextra -Werror $INCLUDES -fsyntax-only "$WORK/prototypes.c"
echo "check-prototypes: OK: $n bound functions match cuda.h ($CUDA_INCLUDE) and cublas_v2.h ($CUBLAS_INC)"
