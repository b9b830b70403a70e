#!/usr/bin/env bash
# Builds the device emulator and its C++ self-tests (native/emu/test), and runs them: barrier,
# shuffle and shared-memory semantics, the scheduling fuzz, launch validation, streams, capture and
# replay, the cuBLAS GEMMs against naive references, and the planted defects (issue 8).
# Run by the kernels module's EmulatorSelfTest (mvn test) and usable alone: scripts/test-emu.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${KVDECODE_EMU_BUILD:-$ROOT/target/emu-build}"
CXX="${CXX:-g++}"
CUDA_INC="${CUDA_HOME:-/usr/local/cuda}/include"
EMU="$ROOT/native/emu"
"$ROOT/scripts/build-emu.sh" "$BUILD/classes"
CUBLAS_INC="$ROOT/target/emu-deps/cublas/include"
if [[ ! -f "$CUBLAS_INC/cublas_api.h" ]]; then
  CUBLAS_INC="$BUILD/fallback-include"
  mkdir -p "$CUBLAS_INC"
  echo '#include "cublas_fallback.h"' > "$CUBLAS_INC/cublas_api.h"
fi
mkdir -p "$BUILD/tests"
FLAGS=(-std=c++20 -O1 -g0 -Wall -Wno-unused-function -DKVD_EMU -I"$ROOT/native" -I"$EMU" -I"$EMU/test" -I"$CUDA_INC" -I"$CUBLAS_INC")
status=0
for t in emu_selftest emu_planted_defects; do
  exe="$BUILD/tests/$t"
  if [[ ! -x "$exe" || "$EMU/test/$t.cpp" -nt "$exe" || "$EMU/test/emu_test.h" -nt "$exe" || "$BUILD/libkvdecode_cudaemu.so" -nt "$exe" || "$EMU/kvd_emu.h" -nt "$exe" ]]; then
    "$CXX" "${FLAGS[@]}" "$EMU/test/$t.cpp" "$EMU/test/emu_test_shared.cpp" -o "$exe" -L"$BUILD" -lkvdecode_cudaemu -Wl,-rpath,"$BUILD"
  fi
  "$exe" || status=1
done
exit $status
