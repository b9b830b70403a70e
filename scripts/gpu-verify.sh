#!/usr/bin/env bash
# Issue 3's verification on a real NVIDIA GPU, in one run, with a log. Two halves, because the GPU
# machine has no Java, no Maven and no network:
#
#   scripts/gpu-verify.sh prepare   HERE (JDK 25 + Maven): builds the jars and the test classes,
#                                   a jlink'd JRE (../shared/tools/device-jre.sh) and .device/
#                                   with everything the run needs (about 40 MiB).
#   scripts/gpu-verify.sh [run]     ON THE GPU MACHINE, from the repository root, with .device
#                                   carried (device tool: run(command="scripts/gpu-verify.sh run",
#                                   carry=[".device"])). Writes $OUT/gpu-verify.log (or
#                                   ./gpu-verify.log) and exits 0 only if every check passed.
#   scripts/gpu-verify.sh dry-run   HERE, after prepare: the same test runs on the device emulator
#                                   with the local JDK (no nvidia-smi, no sanitizers), to check the
#                                   script, the classpath and DeviceTestMain before spending GPU time.
#
# The checks (issue 3, "What it must show", numbered as there):
#   0. the device, driver, the fatbin's SASS targets, and which libcuda/libcublas were loaded;
#   1. every kernel against its CPU op on fresh random inputs (gpuk's kernel tests, NaN-poisoned
#      outputs, guard bands, several shapes) on the real device: KVDECODE_TEST_BACKEND=cuda;
#   2. end to end: --backend cuda greedy tokens identical to the CPU backend's for 300 tokens on
#      random GPT-2-shaped fp32 checkpoints, cached and recomputed, past overflow with SHIFT and
#      RING (CudaSessionTest, the very test CI runs on the emulator), plus the bindings tests;
#   3. compute-sanitizer memcheck and racecheck clean on the append, shift and attention kernels
#      (their kernel tests) and on one short end-to-end decode (graph replay included);
#   4. the graph-replayed loop and the step-by-step loop give identical tokens and bitwise
#      identical logits (CudaSessionTest#graphReplayEqualsStepByStep and the *Greedy300 tests).
# Record the summary printed at the end and the device in docs/GPU_VERIFICATION.md.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEV="$ROOT/.device"
MODE="${1:-run}"

prepare() {
  set -e
  cd "$ROOT"
  if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/javac" ]]; then
    for cand in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25*; do [[ -x "$cand/bin/javac" ]] && { export JAVA_HOME="$cand"; break; }; done
  fi
  echo "gpu-verify prepare: building jars and test classes (JAVA_HOME=$JAVA_HOME)" >&2
  mvn -B -q ${MVN_FLAGS:--o} -pl runtime -am package -DskipTests \
      dependency:build-classpath -Dmdep.outputFile="$ROOT/runtime/target/gpu-verify-classpath.txt" -Dmdep.includeScope=test
  [[ -f "$ROOT/kernels/target/classes/dev/kvdecode/kernels/kvdecode.fatbin" ]] \
    || { echo "gpu-verify prepare: no fatbin was built (nvcc missing?): the GPU run would have no kernels" >&2; exit 1; }
  local jre_tool=""
  for t in "${DEVICE_JRE_SH:-}" "$ROOT/../shared/tools/device-jre.sh" "$ROOT/../../shared/tools/device-jre.sh" /work/shared/tools/device-jre.sh; do
    [[ -n "$t" && -x "$t" ]] && { jre_tool="$t"; break; }
  done
  [[ -n "$jre_tool" ]] || { echo "gpu-verify prepare: device-jre.sh not found (set DEVICE_JRE_SH)" >&2; exit 1; }
  "$jre_tool"
  rm -rf "$DEV/lib" "$DEV/test-classes"
  mkdir -p "$DEV/lib" "$DEV/test-classes"
  { tr ':' '\n' < "$ROOT/runtime/target/gpu-verify-classpath.txt"; echo; } | while read -r jar; do [[ -n "$jar" ]] && cp "$jar" "$DEV/lib/"; done
  cp "$ROOT"/runtime/target/kvdecode-runtime-*.jar "$DEV/lib/"
  cp -r "$ROOT/kernels/target/test-classes" "$DEV/test-classes/kernels"
  cp -r "$ROOT/runtime/target/test-classes" "$DEV/test-classes/runtime"
  git -C "$ROOT" rev-parse HEAD > "$DEV/commit.txt" 2>/dev/null || true
  echo "gpu-verify prepare: .device ready ($(du -sh "$DEV" | cut -f1)); carry \".device\" and run: scripts/gpu-verify.sh run" >&2
}

run() {
  local dry="${1:-}"
  local out_dir="${OUT:-$ROOT}"
  mkdir -p "$out_dir"
  LOG="$out_dir/gpu-verify.log"
  : > "$LOG"
  log() { echo "$*" | tee -a "$LOG"; }
  declare -A RESULT
  # step NAME CMD...: runs CMD, its output into the log, and records PASS/FAIL.
  step() {
    local name="$1"; shift
    log ""; log "=== $name: $*"
    local start=$SECONDS
    "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    RESULT[$name]=$([[ $rc -eq 0 ]] && echo PASS || echo "FAIL (exit $rc)")
    log "=== $name: ${RESULT[$name]} in $((SECONDS - start)) s"
  }

  cd "$ROOT"
  JAVA="$DEV/jre/bin/java"
  if [[ -n "$dry" ]]; then
    for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25*; do [[ -n "$cand" && -x "$cand/bin/java" ]] && { JAVA="$cand/bin/java"; break; }; done
  fi
  [[ -x "$JAVA" ]] || { echo "gpu-verify: $JAVA missing: run 'scripts/gpu-verify.sh prepare' here first and carry .device" >&2; exit 2; }
  [[ -d "$DEV/test-classes/runtime" ]] || { echo "gpu-verify: $DEV/test-classes missing: run 'scripts/gpu-verify.sh prepare' first" >&2; exit 2; }
  CP="$DEV/test-classes/runtime:$DEV/test-classes/kernels:$(ls "$DEV"/lib/*.jar | tr '\n' ':')"
  JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -cp "$CP")
  MAIN=dev.kvdecode.runtime.cuda.DeviceTestMain

  log "gpu-verify: $(date -u +%FT%TZ), commit $(cat "$DEV/commit.txt" 2>/dev/null || echo unknown)"
  # cuBLAS: the machine's Python wheels hold it (nvidia-cublas); NativeLibraries also searches the
  # venv of python3 on PATH, but an explicit path makes the log say exactly which one was used.
  if [[ -z "${KVDECODE_CUBLAS_LIB:-}" ]]; then
    for lib in $(python3 -c 'import nvidia, os; [print(os.path.join(p, sub, "libcublas.so." + v)) for p in nvidia.__path__ for sub in ("cu13/lib", "cublas/lib") for v in ("13", "12")]' 2>/dev/null) \
               /usr/local/cuda/lib64/libcublas.so.13 /usr/local/cuda/lib64/libcublas.so.12; do
      [[ -f "$lib" ]] && { export KVDECODE_CUBLAS_LIB="$lib"; break; }
    done
  fi
  if [[ -n "$dry" ]]; then
    log "gpu-verify: DRY RUN on the device emulator (no GPU checks are made)"
    unset KVDECODE_TEST_BACKEND
    # (tests that need real hardware report skipped here, so skips are allowed in a dry run)
    step kernels "$JAVA" "${JOPTS[@]}" "$MAIN" dev.kvdecode.kernels.cuda
    step end-to-end "$JAVA" "${JOPTS[@]}" "$MAIN" dev.kvdecode.runtime.cuda
    log "gpu-verify dry run: kernels ${RESULT[kernels]}, end-to-end ${RESULT[end-to-end]}"
    [[ "${RESULT[kernels]}" == PASS && "${RESULT[end-to-end]}" == PASS ]]
    return
  fi
  export KVDECODE_TEST_BACKEND=cuda
  step env bash -c "nvidia-smi; nvidia-smi -L; echo KVDECODE_CUBLAS_LIB=\${KVDECODE_CUBLAS_LIB:-unset};
      \"$JAVA\" -version;
      python3 -m zipfile -e \"$DEV\"/lib/kvdecode-kernels-*.jar /tmp/kvd-fatbin &&
      cuobjdump --list-elf /tmp/kvd-fatbin/dev/kvdecode/kernels/kvdecode.fatbin && cuobjdump --list-ptx /tmp/kvd-fatbin/dev/kvdecode/kernels/kvdecode.fatbin"

  # (1) every kernel vs its CPU op, on the device; no test may be skipped.
  step kernels "$JAVA" "${JOPTS[@]}" "$MAIN" --no-skips dev.kvdecode.kernels.cuda
  # (2) + (4) CPU vs CUDA end to end, graph vs step by step, bindings on the real driver, --backend choice.
  step end-to-end "$JAVA" "${JOPTS[@]}" "$MAIN" --no-skips dev.kvdecode.runtime.cuda dev.kvdecode.runtime.engine.BackendsTest
  # (3) compute-sanitizer on the KV-cache and attention kernels and a short end-to-end decode.
  local targets=(dev.kvdecode.kernels.cuda.CudaKvCacheTest dev.kvdecode.kernels.cuda.CudaAttentionTest
                 "dev.kvdecode.runtime.cuda.CudaSessionTest#graphReplayEqualsStepByStep")
  local cs; cs="$(command -v compute-sanitizer || echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")"
  for tool in memcheck racecheck; do
    step "sanitizer-$tool" "$cs" --tool "$tool" --target-processes all --error-exitcode 86 \
        --print-limit 50 "$JAVA" "${JOPTS[@]}" "$MAIN" --no-skips "${targets[@]}"
  done

  log ""; log "=== summary ($(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1))"
  local failed=0
  for name in env kernels end-to-end sanitizer-memcheck sanitizer-racecheck; do
    log "$(printf '%-20s %s' "$name" "${RESULT[$name]:-not run}")"
    [[ "${RESULT[$name]:-}" == PASS ]] || failed=1
  done
  log "gpu-verify: $([[ $failed -eq 0 ]] && echo ALL PASSED || echo FAILURES) (log: $LOG)"
  return $failed
}

case "$MODE" in
  prepare) prepare ;;
  run) run ;;
  dry-run) run dry ;;
  *) echo "usage: gpu-verify.sh prepare | run | dry-run" >&2; exit 2 ;;
esac
