#!/usr/bin/env bash
# The kernel half of the GPU verification (issue 3, "What it must show" (1) and (3)), for a machine
# with an NVIDIA GPU: every kernel vs its CPU op on the real device, then compute-sanitizer memcheck
# and racecheck on the append, shift and attention kernels. Writes target/verify-gpu-kernels.log
# and prints its summary. Without a GPU the kernel tests still run on the emulator in `mvn test`.
# Usage: scripts/verify-gpu-kernels.sh          Env: JAVA_HOME (JDK 25), CUDA_HOME (compute-sanitizer)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG="$ROOT/target/verify-gpu-kernels.log"
mkdir -p "$ROOT/target"
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }

say "verify-gpu-kernels: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  say "verify-gpu-kernels: no NVIDIA GPU visible (nvidia-smi); nothing verified"; exit 2
fi
say "device: $(nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader | head -1)"

# Surefire forks run the tests; KVDECODE_TEST_BACKEND=cuda makes Dev open the real driver.
export KVDECODE_TEST_BACKEND=cuda
status=0
run() {  # run NAME mvn-args...
  local name="$1"; shift
  local start=$SECONDS
  if mvn -B -q -pl kernels -am test -Dsurefire.failIfNoSpecifiedTests=false "$@" >>"$LOG" 2>&1; then
    say "PASS  $name ($((SECONDS - start)) s)"
  else
    say "FAIL  $name ($((SECONDS - start)) s): see $LOG"; status=1
  fi
}

# (1) every kernel against its CPU op on the device (the gpu-tagged inventory check included)
run "kernels vs CPU on the GPU" -Dtest='Cuda*Test'

# (3) compute-sanitizer around the forked test JVM (surefire's jvm parameter points at a wrapper)
CS="${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer"
if [[ -x "$CS" ]]; then
  for tool in memcheck racecheck; do
    wrapper="$ROOT/target/java-under-$tool.sh"
    printf '#!/usr/bin/env bash\nexec "%s" --tool %s --error-exitcode 86 --print-limit 20 "%s/bin/java" "$@"\n' \
      "$CS" "$tool" "${JAVA_HOME:?set JAVA_HOME to a JDK 25}" > "$wrapper"
    chmod +x "$wrapper"
    run "compute-sanitizer $tool: append, shift, attention" -Djvm="$wrapper" \
      -Dtest='CudaKvCacheTest,CudaAttentionTest'
  done
else
  say "SKIP  compute-sanitizer: $CS not found"
fi
say "verify-gpu-kernels: $([[ $status == 0 ]] && echo 'all passed' || echo 'FAILURES') (log: $LOG)"
exit $status
