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
  # (a relative outputFile is per module: runtime/target/... is the runtime tests' class path)
  mvn -B -q ${MVN_FLAGS:--o} -pl runtime,bench -am package -DskipTests \
      dependency:build-classpath -Dmdep.outputFile=target/gpu-verify-classpath.txt -Dmdep.includeScope=test
  [[ -f "$ROOT/kernels/target/classes/dev/kvdecode/kernels/kvdecode.fatbin" ]] \
    || { echo "gpu-verify prepare: no fatbin was built (nvcc missing?): the GPU run would have no kernels" >&2; exit 1; }
  local jre_tool=""
  for t in "${DEVICE_JRE_SH:-}" "$ROOT/../shared/tools/device-jre.sh" "$ROOT/../../shared/tools/device-jre.sh" /work/shared/tools/device-jre.sh; do
    [[ -n "$t" && -x "$t" ]] && { jre_tool="$t"; break; }
  done
  [[ -n "$jre_tool" ]] || { echo "gpu-verify prepare: device-jre.sh not found (set DEVICE_JRE_SH)" >&2; exit 1; }
  # The device call carries 64 MiB in all, the tracked tree (~25 MB) included: the JRE travels as
  # .device/jre.txz (~20 MB, unpacked there), the CLI jar holds the main code and its libraries,
  # lib/ only the test libraries, test-classes/ only classes (the resources travel in the tree).
  "$jre_tool" jdk.zipfs   # JUnit scans packages inside jars through the zip file system
  tar -C "$DEV" -cJf "$DEV/jre.txz" jre && rm -rf "$DEV/jre"
  rm -rf "$DEV/lib" "$DEV/test-classes" "$DEV/kvdecode-cli.jar"
  mkdir -p "$DEV/lib" "$DEV/test-classes"
  { tr ':' '\n' < "$ROOT/runtime/target/gpu-verify-classpath.txt"; echo; } | while read -r jar; do
    case "$(basename "$jar")" in junit-*|opentest4j-*|apiguardian-*) cp "$jar" "$DEV/lib/" ;; esac
  done
  cp "$ROOT/bench/target/kvdecode-cli.jar" "$DEV/kvdecode-cli.jar"
  for m in kernels runtime; do
    mkdir -p "$DEV/test-classes/$m"; (cd "$ROOT/$m/target/test-classes" && find . -name '*.class' -print0 | xargs -0 cp --parents -t "$DEV/test-classes/$m")
  done
  git -C "$ROOT" rev-parse HEAD > "$DEV/commit.txt" 2>/dev/null || true
  local carried; carried=$(( $(du -cb "$DEV" | tail -1 | cut -f1)
                             + $(git -C "$ROOT" ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) ))
  echo "gpu-verify prepare: .device ready; tree + .device = $((carried / 1048576)) MiB of the 64 MiB a call carries" >&2
  (( carried < 64 * 1048576 )) || { echo "gpu-verify prepare: too big to carry" >&2; exit 1; }
  echo "carry [\".device\"] and run: scripts/gpu-verify.sh run|all" >&2
}

# setup DRY: JAVA, CP, JOPTS, MAIN, LOG and the cuBLAS path, for run/all/dry-run.
setup() {
  local dry="${1:-}"
  OUT_DIR="${OUT:-$ROOT}"
  mkdir -p "$OUT_DIR"
  LOG="$OUT_DIR/gpu-verify.log"
  : > "$LOG"
  cd "$ROOT"
  JAVA="$DEV/jre/bin/java"
  if [[ -z "$dry" && ! -x "$JAVA" && -f "$DEV/jre.txz" ]]; then
    mkdir -p /tmp/kvd-jre && tar -C /tmp/kvd-jre -xJf "$DEV/jre.txz" && JAVA=/tmp/kvd-jre/jre/bin/java
  fi
  if [[ -n "$dry" ]]; then
    for cand in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25*; do [[ -n "$cand" && -x "$cand/bin/java" ]] && { JAVA="$cand/bin/java"; break; }; done
  fi
  [[ -x "$JAVA" ]] || { echo "gpu-verify: $JAVA missing: run 'scripts/gpu-verify.sh prepare' here first and carry .device" >&2; exit 2; }
  [[ -d "$DEV/test-classes/runtime" ]] || { echo "gpu-verify: $DEV/test-classes missing: run 'scripts/gpu-verify.sh prepare' first" >&2; exit 2; }
  CP="$DEV/test-classes/runtime:$DEV/test-classes/kernels:$ROOT/runtime/src/test/resources:$ROOT/kernels/src/test/resources:$(ls "$DEV"/lib/*.jar | tr '\n' ':')$DEV/kvdecode-cli.jar"
  JOPTS=(--enable-native-access=ALL-UNNAMED -Xss4m -cp "$CP")
  MAIN=dev.kvdecode.runtime.cuda.DeviceTestMain
  # The checks' commands, shared by run (one after another) and all (at once):
  # (1) every kernel vs its CPU op on the device, no test skipped; (2) + (4) CPU vs CUDA end to end,
  # graph vs step by step, bindings on the real driver, --backend choice.
  KERNELS=("$JAVA" "${JOPTS[@]}" "$MAIN" --no-skips dev.kvdecode.kernels.cuda)
  END_TO_END=("$JAVA" "${JOPTS[@]}" "$MAIN" --no-skips dev.kvdecode.runtime.cuda dev.kvdecode.runtime.engine.BackendsTest)
  SANITIZER_TARGETS=(dev.kvdecode.kernels.cuda.CudaKvCacheTest dev.kvdecode.kernels.cuda.CudaAttentionTest
                     "dev.kvdecode.runtime.cuda.CudaSessionTest#graphReplayEqualsStepByStep")
  CS="$(command -v compute-sanitizer || echo "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer")"
  # cuBLAS: the machine's Python wheels hold it (nvidia-cublas); NativeLibraries also searches the
  # venv of python3 on PATH, but an explicit path makes the log say exactly which one was used.
  if [[ -z "$dry" && -z "${KVDECODE_CUBLAS_LIB:-}" ]]; then
    for lib in $(python3 -c 'import nvidia, os; [print(os.path.join(p, sub, "libcublas.so." + v)) for p in nvidia.__path__ for sub in ("cu13/lib", "cublas/lib") for v in ("13", "12")]' 2>/dev/null) \
               /usr/local/cuda/lib64/libcublas.so.13 /usr/local/cuda/lib64/libcublas.so.12; do
      [[ -f "$lib" ]] && { export KVDECODE_CUBLAS_LIB="$lib"; break; }
    done
  fi
  # (3) compute-sanitizer TOOL on the KV-cache and attention kernels and a short end-to-end decode
  sanitizer() { SANITIZER=("$CS" --tool "$1" --target-processes all --report-api-errors no --error-exitcode 86 \
      --print-limit 50 "$JAVA" "${JOPTS[@]}" "$MAIN" --no-skips "${SANITIZER_TARGETS[@]}"); }
  log "gpu-verify: $(date -u +%FT%TZ), commit $(cat "$DEV/commit.txt" 2>/dev/null || echo unknown), java $JAVA"
}

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

env_report() {
  nvidia-smi; nvidia-smi -L; echo "KVDECODE_CUBLAS_LIB=${KVDECODE_CUBLAS_LIB:-unset}"
  "$JAVA" -version
  python3 -c "import zipfile; zipfile.ZipFile('$DEV/kvdecode-cli.jar').extract('dev/kvdecode/kernels/kvdecode.fatbin', '/tmp/kvd-fatbin')" &&
    cuobjdump --list-elf /tmp/kvd-fatbin/dev/kvdecode/kernels/kvdecode.fatbin &&
    cuobjdump --list-ptx /tmp/kvd-fatbin/dev/kvdecode/kernels/kvdecode.fatbin
}

summary() {
  log ""; log "=== summary ($(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1))"
  local failed=0
  for name in env kernels end-to-end sanitizer-memcheck sanitizer-racecheck; do
    log "$(printf '%-20s %s' "$name" "${RESULT[$name]:-not run}")"
    [[ "${RESULT[$name]:-}" == PASS ]] || failed=1
  done
  log "gpu-verify: $([[ $failed -eq 0 ]] && echo ALL PASSED || echo FAILURES) (log: $LOG)"
  return $failed
}

run() {
  local dry="${1:-}"
  setup "$dry"
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
  step env env_report
  # (1) every kernel vs its CPU op, on the device; no test may be skipped.
  step kernels "${KERNELS[@]}"
  # (2) + (4) CPU vs CUDA end to end, graph vs step by step, bindings on the real driver, --backend choice.
  step end-to-end "${END_TO_END[@]}"
  # (3) compute-sanitizer on the KV-cache and attention kernels and a short end-to-end decode.
  for tool in memcheck racecheck; do
    sanitizer "$tool"
    step "sanitizer-$tool" "${SANITIZER[@]}"
  done
  summary
}

# all: within one device call of at most ~10 minutes. Phase A runs the four checks of `run` at
# once (correctness only: they share the GPU, nothing is timed); phase B then times, one at a
# time on the otherwise idle GPU: bench (char-1024 and gpt2 shapes, every mode), the PyTorch
# peers, and an ncu per-kernel split of a gpt2 fp16 decode. Each step has a time limit and
# phase B skips what no longer fits before DEADLINE seconds (default 540). Everything lands in
# $OUT: gpu-verify.log, bench.log, peers.log, ncu.log, results.tgz (CSVs, JSON, each check's log).
all() {
  setup ""
  local deadline="${DEADLINE:-540}"
  export KVDECODE_TEST_BACKEND=cuda
  step env env_report
  local logs="$OUT_DIR/logs"; mkdir -p "$logs"
  # pstep NAME LIMIT CMD...: in the background, output to logs/NAME.log, exit status to logs/NAME.rc
  pstep() {
    local name="$1" limit="$2"; shift 2
    ( start=$SECONDS; timeout -k 10 "$limit" "$@" > "$logs/$name.log" 2>&1; rc=$?
      echo "$rc $((SECONDS - start))" > "$logs/$name.rc" ) &
  }
  log ""; log "=== phase A: kernels, end-to-end, memcheck, racecheck in parallel"
  pstep kernels "${ALIMIT:-240}" "${KERNELS[@]}"
  pstep end-to-end "${ALIMIT:-240}" "${END_TO_END[@]}"
  for tool in memcheck racecheck; do
    sanitizer "$tool"
    pstep "sanitizer-$tool" "${ALIMIT:-240}" "${SANITIZER[@]}"
  done
  wait
  for name in kernels end-to-end sanitizer-memcheck sanitizer-racecheck; do
    local rc secs; read -r rc secs < "$logs/$name.rc"
    RESULT[$name]=$([[ $rc -eq 0 ]] && echo PASS || echo "FAIL (exit $rc$([[ $rc -eq 124 ]] && echo ", timed out"))")
    log ""; log "=== $name: ${RESULT[$name]} in $secs s; its log (last 150 lines; whole in results.tgz):"
    tail -n 150 "$logs/$name.log" | tee -a "$LOG" > /dev/null
  done
  summary || true

  log ""; log "=== phase B: timings ($((deadline - SECONDS)) s left before the deadline)"
  local BENCH="$OUT_DIR/bench.log"; : > "$BENCH"
  # tstep NAME LIMIT CMD...: run if it fits before the deadline, output to bench.log
  tstep() {
    local name="$1" limit="$2"; shift 2
    local left=$((deadline - SECONDS))
    if (( left < 20 )); then echo "=== $name: SKIPPED (only $left s left)" | tee -a "$BENCH"; return; fi
    (( limit > left )) && limit=$left
    echo "=== $name ($(date -u +%T), limit $limit s): $*" >> "$BENCH"
    local start=$SECONDS
    timeout -k 5 "$limit" "$@" >> "$BENCH" 2>&1
    echo "=== $name: exit $? in $((SECONDS - start)) s" | tee -a "$BENCH"
  }
  local B="${GPU_VERIFY_BACKEND:-cuda}"   # cuda-emu: a local rehearsal of the mechanics
  local KV=("$JAVA" --enable-native-access=ALL-UNNAMED -Xss4m -jar "$DEV/kvdecode-cli.jar")
  local R="$OUT_DIR/results"; mkdir -p "$R"
  # SHORT=1: the second call of a 15-minute lease (fewer steps and repetitions, same coverage)
  local cs="100,500,1000,5000,10000" reps=3 ps="100,1000,10000" gs="100,1000"
  [[ -n "${SHORT:-}" ]] && { cs="100,1000,10000"; reps=1; ps="100,1000"; gs="100"; }
  tstep bench-char-fp32 100 "${KV[@]}" bench --backend "$B" --no-charts --preset char-1024 --overflow shift \
      --modes loop,cached --steps "$cs" --reps "$reps" --out "$R/char-1024-fp32"
  tstep bench-gpt2-fp16 100 "${KV[@]}" bench --backend "$B" --no-charts --preset gpt2 --dtype fp16 \
      --modes loop,cached --steps 1000 --reps "$reps" --out "$R/gpt2-fp16"
  tstep bench-gpt2-fp16-recompute 60 "${KV[@]}" bench --backend "$B" --no-charts --preset gpt2 --dtype fp16 \
      --modes recompute --steps "$gs" --out "$R/gpt2-fp16-recompute"
  tstep peers 150 env PYTHONUNBUFFERED=1 python3 scripts/peers/torch_peers.py --device cuda --steps "$ps" \
      --hf-steps 1000 --hf-dtype fp16 --experiments tutorial,hf --json "$R/peers.json"
  tstep bench-char-recompute 120 "${KV[@]}" bench --backend "$B" --no-charts --preset char-1024 --overflow shift \
      --modes recompute --steps "$cs" --out "$R/char-1024-fp32-recompute"
  tstep bench-gpt2-fp32 60 "${KV[@]}" bench --backend "$B" --no-charts --preset gpt2 --dtype fp32 \
      --modes loop,cached --steps 1000 --reps "$reps" --out "$R/gpt2-fp32"
  tstep bench-gpt2-bf16 60 "${KV[@]}" bench --backend "$B" --no-charts --preset gpt2 --dtype bf16 \
      --modes loop --steps 1000 --reps "$reps" --out "$R/gpt2-bf16"
  # per-kernel GPU time of a short gpt2 fp16 device loop (graph nodes profiled one by one)
  tstep ncu 60 ncu --target-processes all --graph-profiling node --launch-count 1500 --metrics gpu__time_duration.sum \
      --print-summary per-kernel --csv "${KV[@]}" bench --backend "$B" --no-charts --preset gpt2 --dtype fp16 \
      --modes loop --steps 4 --warmup 0 --out "$R/ncu-run"
  tar -C "$OUT_DIR" -czf "$OUT_DIR/results.tgz" results logs && rm -rf "$R" "$logs"
  log "gpu-verify all: done at $SECONDS s"
}

case "$MODE" in
  prepare) prepare ;;
  run) run ;;
  all) all ;;
  dry-run) run dry ;;
  *) echo "usage: gpu-verify.sh prepare | run | all | dry-run" >&2; exit 2 ;;
esac
