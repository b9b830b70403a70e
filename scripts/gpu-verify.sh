#!/usr/bin/env bash
# Issue 3's verification on a real NVIDIA GPU, in one run, with a log. Two halves, because the GPU
# machine has no Java, no Maven and no network:
#
#   scripts/gpu-verify.sh prepare   HERE (JDK 25 + Maven; online on a fresh machine): builds the
#                                   jars and the test classes, a jlink'd JRE, and packs all of it
#                                   into .device/bundle.txz (~19 MiB); fails when the tree and
#                                   .device exceed the carry budget (56 of the 64 MiB a call carries).
#   scripts/gpu-verify.sh [run]     ON THE GPU MACHINE, from the repository root, with .device
#                                   carried (device tool: run(command="scripts/gpu-verify.sh run",
#                                   carry=[".device"])). Writes $OUT/gpu-verify.log (without
#                                   $OUT: target/gpu-verify/) and exits 0 only if every check passed.
#   scripts/gpu-verify.sh dry-run   HERE, after prepare: the same test runs on the device emulator
#                                   with the bundled JRE (no nvidia-smi, no sanitizers), to check the
#                                   bundle, the classpath and DeviceTestMain before spending GPU time.
#                                   CI runs prepare and dry-run on every commit (.ci/run).
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

# The device call carries the tracked tree and .device, 64 MiB in all; prepare fails above this
# budget, which leaves 8 MiB of margin for the fixtures that the coming work adds (issue 22).
CARRY_BUDGET_MIB="${CARRY_BUDGET_MIB:-56}"

find_jdk() {
  if [[ -n "${JAVA_HOME:-}" && -x "${JAVA_HOME}/bin/jlink" ]] && "$JAVA_HOME/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])'; then return; fi
  for cand in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    if [[ -x "$cand/bin/jlink" ]] && "$cand/bin/java" -version 2>&1 | grep -qE 'version "(2[5-9]|[3-9][0-9])'; then
      export JAVA_HOME="$cand"; return
    fi
  done
  echo "gpu-verify prepare: no JDK 25 with jlink under /usr/lib/jvm: set JAVA_HOME" >&2; exit 2
}

# mvn_build ARGS...: Maven, offline first (a warm machine needs no network); when the offline
# build reports an artifact that was never downloaded, once more online (a fresh machine). A
# failure prints Maven's first error line and where the whole log is.
mvn_build() {
  local log="$ROOT/target/gpu-verify-prepare.log"
  mkdir -p "$ROOT/target"
  if [[ -n "${MVN_FLAGS+set}" ]]; then
    mvn -B ${MVN_FLAGS} "$@" > "$log" 2>&1 && return
  else
    mvn -B -o "$@" > "$log" 2>&1 && return
    if grep -qE 'offline mode|has not been downloaded' "$log"; then
      echo "gpu-verify prepare: the offline build lacks an artifact; building online" >&2
      mvn -B "$@" > "$log" 2>&1 && return
    fi
  fi
  echo "gpu-verify prepare: mvn failed: $(grep -m1 -E '^\[ERROR\] ' "$log" | cut -c9-400) (whole log: $log)" >&2
  exit 1
}

prepare() {
  set -e
  cd "$ROOT"
  find_jdk
  command -v mvn > /dev/null || { echo "gpu-verify prepare: mvn (Maven 3.8+) not on PATH" >&2; exit 2; }
  command -v xz > /dev/null || { echo "gpu-verify prepare: xz not on PATH (apt-get install xz-utils)" >&2; exit 2; }
  echo "gpu-verify prepare: building jars and test classes (JAVA_HOME=$JAVA_HOME)" >&2
  # (a relative outputFile is per module: runtime/target/... is the runtime tests' class path;
  # Jazzer, 9 MB, stays out: the fuzz tests do not run on the GPU machine)
  mvn_build -pl runtime,bench -am package -DskipTests \
      dependency:build-classpath -Dmdep.outputFile=target/gpu-verify-classpath.txt -Dmdep.includeScope=test \
      -DexcludeGroupIds=com.code-intelligence
  [[ -f "$ROOT/kernels/target/classes/dev/kvdecode/kernels/kvdecode.fatbin" ]] \
    || { echo "gpu-verify prepare: no fatbin was built (nvcc missing?): the GPU run would have no kernels" >&2; exit 1; }
  # Everything travels as one xz archive, .device/bundle.txz, unpacked on the GPU machine:
  # - a jlink'd JRE without jlink's own compression (xz packs raw class files far better: 13 MB
  #   instead of 20 with --compress=zip-9), jdk.zipfs for JUnit's scans inside jars;
  # - the CLI jar (main code and its libraries) re-packed uncompressed for the same reason (9.6 MB
  #   as built, 4.4 MB in the archive);
  # - lib/: the test libraries; test-classes/: only classes (the test resources are in the tree).
  local stage="$ROOT/target/gpu-verify-stage"
  rm -rf "$stage" "$DEV"; mkdir -p "$stage/lib" "$stage/test-classes" "$DEV"
  "$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,jdk.unsupported,jdk.zipfs \
      --output "$stage/jre" --strip-debug --no-man-pages --no-header-files --compress=zip-0
  { tr ':' '\n' < "$ROOT/runtime/target/gpu-verify-classpath.txt"; echo; } | while read -r jar; do
    case "$(basename "$jar")" in junit-*|opentest4j-*|apiguardian-*) cp "$jar" "$stage/lib/" ;; esac
  done
  local unpacked="$ROOT/target/gpu-verify-cli"
  rm -rf "$unpacked"; mkdir -p "$unpacked"
  (cd "$unpacked" && "$JAVA_HOME/bin/jar" --extract --file "$ROOT/bench/target/kvdecode-cli.jar")
  "$JAVA_HOME/bin/jar" --create --no-compress --file "$stage/kvdecode-cli.jar" \
      --manifest "$unpacked/META-INF/MANIFEST.MF" -C "$unpacked" .
  for m in kernels runtime; do
    mkdir -p "$stage/test-classes/$m"; (cd "$ROOT/$m/target/test-classes" && find . -name '*.class' -print0 | xargs -0 cp --parents -t "$stage/test-classes/$m")
  done
  git -C "$ROOT" rev-parse HEAD > "$stage/commit.txt" 2>/dev/null || echo unknown > "$stage/commit.txt"
  cp "$stage/commit.txt" "$DEV/commit.txt"
  tar -C "$stage" -cf - . | xz -9 -T2 > "$DEV/bundle.txz"
  rm -rf "$unpacked"
  carry_report
  echo "carry [\".device\"] and run: scripts/gpu-verify.sh all (or SHORT=1 ... all; see docs/GPU_VERIFICATION.md)" >&2
}

# carry_report: what a device call would carry now (the tracked tree, untracked files git does not
# ignore, and .device), against the 64 MiB limit and the budget; fails above the budget.
carry_report() {
  local tree dev total
  tree=$(cd "$ROOT" && { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 -r du -cb 2>/dev/null | awk '$2 == "total" {s += $1} END {print s + 0}')
  dev=$(du -sb "$DEV" | cut -f1)
  total=$((tree + dev))
  printf 'gpu-verify prepare: tree + .device = %d MiB of 64 (tree %.1f MiB, .device %.1f MiB; budget %d MiB)\n' \
      $(( (total + 1048575) / 1048576 )) "$(echo "$tree / 1048576" | bc -l)" "$(echo "$dev / 1048576" | bc -l)" "$CARRY_BUDGET_MIB" >&2
  (( total <= CARRY_BUDGET_MIB * 1048576 )) || { echo "gpu-verify prepare: over the carry budget of $CARRY_BUDGET_MIB MiB: shrink the tree or .device" >&2; exit 1; }
}

# unpack: .device/bundle.txz into $BUNDLE (once per commit; a re-prepared bundle is unpacked anew)
unpack() {
  [[ -f "$DEV/bundle.txz" ]] || { echo "gpu-verify: $DEV/bundle.txz missing: run 'scripts/gpu-verify.sh prepare' here first and carry .device" >&2; exit 2; }
  BUNDLE="${TMPDIR:-/tmp}/kvdecode-device-$(cat "$DEV/commit.txt" 2>/dev/null || echo unknown)"
  if [[ ! -f "$BUNDLE/.unpacked" || "$DEV/bundle.txz" -nt "$BUNDLE/.unpacked" ]]; then
    rm -rf "$BUNDLE"; mkdir -p "$BUNDLE"
    if command -v xz > /dev/null; then
      xz -dc -T0 "$DEV/bundle.txz" | tar -C "$BUNDLE" -xf -
    else
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$DEV/bundle.txz" "$BUNDLE"
    fi || { echo "gpu-verify: could not unpack $DEV/bundle.txz into $BUNDLE" >&2; exit 2; }
    touch "$BUNDLE/.unpacked"
  fi
}

# setup: JAVA, CP, JOPTS, MAIN, LOG and the cuBLAS path, for run/all/dry-run. The dry run uses the
# bundled JRE too, so that it also checks that the jlink'd image has every module the tests need.
setup() {
  local dry="${1:-}"
  OUT_DIR="${OUT:-$ROOT/target/gpu-verify}"   # (docs/gpu/ holds the dated logs worth keeping)
  mkdir -p "$OUT_DIR"
  LOG="$OUT_DIR/gpu-verify.log"
  : > "$LOG"
  cd "$ROOT"
  unpack
  JAVA="$BUNDLE/jre/bin/java"
  [[ -x "$JAVA" && -d "$BUNDLE/test-classes/runtime" && -f "$BUNDLE/kvdecode-cli.jar" ]] \
    || { echo "gpu-verify: $BUNDLE is incomplete (no jre, test-classes or CLI jar): run 'scripts/gpu-verify.sh prepare' again" >&2; exit 2; }
  CP="$BUNDLE/test-classes/runtime:$BUNDLE/test-classes/kernels:$ROOT/runtime/src/test/resources:$ROOT/kernels/src/test/resources:$(ls "$BUNDLE"/lib/*.jar | tr '\n' ':')$BUNDLE/kvdecode-cli.jar"
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
  python3 -c "import zipfile; zipfile.ZipFile('$BUNDLE/kvdecode-cli.jar').extract('dev/kvdecode/kernels/kvdecode.fatbin', '/tmp/kvd-fatbin')" &&
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
# time on the otherwise idle GPU, in this order of priority: bench (char-1024 and gpt2 shapes,
# every mode), the PyTorch peers, and an ncu per-kernel split of a gpt2 fp16 decode. Every step
# has a time limit clipped to what is left before DEADLINE seconds after the script started
# (default 540; SHORT=1: 420, for a lease of which the machine's start has already taken some);
# phase B skips, with a line in the log, each step that no longer fits. Everything lands in $OUT:
# gpu-verify.log, bench.log, results.tgz (CSVs, JSON, each check's log). A TERM or INT (the device
# call's own limit) still writes the summary and results.tgz before the script exits.
all() {
  setup ""
  local deadline="${DEADLINE:-$([[ -n "${SHORT:-}" ]] && echo 420 || echo 540)}"
  export KVDECODE_TEST_BACKEND=cuda
  local logs="$OUT_DIR/logs" R="$OUT_DIR/results"; mkdir -p "$logs" "$R"
  finish() {
    trap - TERM INT
    [[ -n "${1:-}" ]] && log "gpu-verify all: $1 at $SECONDS s; writing what there is"
    tar -C "$OUT_DIR" -czf "$OUT_DIR/results.tgz" results logs 2> /dev/null && rm -rf "$R" "$logs"
    log "gpu-verify all: done at $SECONDS s (deadline $deadline s)"
  }
  trap 'kill $(jobs -p) 2> /dev/null; summary; finish "interrupted"; exit 124' TERM INT
  step env env_report
  # pstep NAME LIMIT CMD...: in the background, output to logs/NAME.log, exit status to logs/NAME.rc
  pstep() {
    local name="$1" limit="$2"; shift 2
    ( start=$SECONDS; timeout -k 10 "$limit" "$@" > "$logs/$name.log" 2>&1; rc=$?
      echo "$rc $((SECONDS - start))" > "$logs/$name.rc" ) &
  }
  # phase A may take at most half of what is left, so that timings always get the other half
  local alimit="${ALIMIT:-240}" half=$(( (deadline - SECONDS) / 2 ))
  (( alimit > half )) && alimit=$half
  log ""; log "=== phase A: kernels, end-to-end, memcheck, racecheck in parallel (limit $alimit s each)"
  pstep kernels "$alimit" "${KERNELS[@]}"
  pstep end-to-end "$alimit" "${END_TO_END[@]}"
  for tool in memcheck racecheck; do
    sanitizer "$tool"
    pstep "sanitizer-$tool" "$alimit" "${SANITIZER[@]}"
  done
  wait
  for name in kernels end-to-end sanitizer-memcheck sanitizer-racecheck; do
    local rc=124 secs="?"; [[ -f "$logs/$name.rc" ]] && read -r rc secs < "$logs/$name.rc"
    RESULT[$name]=$([[ $rc -eq 0 ]] && echo PASS || echo "FAIL (exit $rc$([[ $rc -eq 124 ]] && echo ", timed out"))")
    log ""; log "=== $name: ${RESULT[$name]} in $secs s; its log (last 150 lines; whole in results.tgz):"
    tail -n 150 "$logs/$name.log" | tee -a "$LOG" > /dev/null
  done
  local verdict=0
  summary || verdict=1

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
    # (in the background, so that a TERM reaches the trap at once instead of after the step)
    timeout -k 5 "$limit" "$@" >> "$BENCH" 2>&1 &
    local rc=0; wait $! || rc=$?
    echo "=== $name: exit $rc in $((SECONDS - start)) s" | tee -a "$BENCH"
  }
  local B="${GPU_VERIFY_BACKEND:-cuda}"   # cuda-emu: a local rehearsal of the mechanics
  local KV=("$JAVA" --enable-native-access=ALL-UNNAMED -Xss4m -jar "$BUNDLE/kvdecode-cli.jar")
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
  finish
  return $verdict   # the correctness checks' verdict; timings only report
}

case "$MODE" in
  prepare) prepare ;;
  run) run ;;
  all) all ;;
  dry-run) run dry ;;
  *) echo "usage: gpu-verify.sh prepare | run | all | dry-run" >&2; exit 2 ;;
esac
