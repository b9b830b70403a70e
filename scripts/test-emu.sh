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
# The test kernels' static __shared__ storage sits between the same markers the library uses
# (the executable's definitions take precedence), so it is poisoned at each block as in the library.
for m in begin end; do
  "$CXX" "${FLAGS[@]}" -c "$BUILD/shared_$m.cpp" -o "$BUILD/tests/shared_$m.o"
done
for t in emu_selftest emu_planted_defects; do
  exe="$BUILD/tests/$t"
  if [[ ! -x "$exe" || "$EMU/test/$t.cpp" -nt "$exe" || "$EMU/test/emu_test.h" -nt "$exe" || "$BUILD/libkvdecode_cudaemu.so" -nt "$exe" || "$EMU/kvd_emu.h" -nt "$exe" || "$EMU/test/emu_test_shared.cpp" -nt "$exe" ]]; then
    "$CXX" "${FLAGS[@]}" -c "$EMU/test/$t.cpp" -o "$BUILD/tests/$t.o"
    "$CXX" "${FLAGS[@]}" -c "$EMU/test/emu_test_shared.cpp" -o "$BUILD/tests/emu_test_shared.o"
    "$CXX" -o "$exe" "$BUILD/tests/shared_begin.o" "$BUILD/tests/$t.o" "$BUILD/tests/shared_end.o" \
      "$BUILD/tests/emu_test_shared.o" -L"$BUILD" -lkvdecode_cudaemu -Wl,-rpath,"$BUILD"
  fi
  "$exe" || status=1
done
exit $status
