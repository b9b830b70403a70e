#!/usr/bin/env bash
# How bindings/ would be regenerated with jextract, and a diff aid. The committed classes
# (CudaDriver, Cublas) are hand-written in jextract's shape (one holder per C function with the
# symbol, the quoted prototype and the FunctionDescriptor) because jextract is not installed on
# these machines and we want instance-bound handles (the same classes bind the real driver or the
# emulator). scripts/check-prototypes.sh is what proves them against the headers.
#
# Headers:  $CUDA_HOME/include/cuda.h              -> CudaDriver
#           <nvidia-cublas wheel>/nvidia/cu13/include/cublas_v2.h (includes cublas_api.h) -> Cublas
# Symbols:  exactly the functions the classes bind, i.e. the symbol names cuda.h / cublas_v2.h
#           map the API to (cuMemAlloc -> cuMemAlloc_v2, cublasCreate -> cublasCreate_v2, ...);
#           listed by `java dev.kvdecode.bindings.PrototypeCheck --symbols driver|cublas`.
#
# With jextract (https://jdk.java.net/jextract/, 25 or later) on PATH this writes its output to
# bindings/target/jextract/ for comparison; it never overwrites the committed sources.
# To add a function: add a holder + typed method to CudaDriver/Cublas (copy a neighbour), add it
# to FUNCTIONS, run scripts/check-prototypes.sh, and tell the emulator owner (native/emu) so the
# emulator exports it too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CUDA_INCLUDE="${CUDA_INCLUDE:-${CUDA_HOME:-/usr/local/cuda}/include}"
OUT="$ROOT/bindings/target/jextract"
mkdir -p "$OUT"

if [[ -z "${JAVA_HOME:-}" ]]; then
  for cand in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*25*; do [[ -x "$cand/bin/javac" ]] && { export JAVA_HOME="$cand"; break; }; done
fi
CLASSES="$OUT/classes"
"$JAVA_HOME/bin/javac" -nowarn -d "$CLASSES" $(find "$ROOT/bindings/src/main/java" -name '*.java')
"$JAVA_HOME/bin/java" -cp "$CLASSES" dev.kvdecode.bindings.PrototypeCheck --symbols driver > "$OUT/driver.symbols"
"$JAVA_HOME/bin/java" -cp "$CLASSES" dev.kvdecode.bindings.PrototypeCheck --symbols cublas > "$OUT/cublas.symbols"
echo "gen-bindings: symbol lists in $OUT/{driver,cublas}.symbols" >&2

if ! command -v jextract >/dev/null 2>&1; then
  echo "gen-bindings: jextract not on PATH; the commands it would run:" >&2
  run() { printf '  %q' "$@" >&2; echo >&2; }
else
  run() { "$@"; }
fi
CUBLAS_INC="$("$ROOT/scripts/check-prototypes.sh" --print-includes | sed 's/.* -I//')"

include_args() { while read -r s; do printf -- '--include-function %s\n' "$s"; done < "$1"; }
# shellcheck disable=SC2046
run jextract --output "$OUT/src" --target-package dev.kvdecode.bindings.gen --header-class-name CudaDriverGen \
    -I "$CUDA_INCLUDE" $(include_args "$OUT/driver.symbols") "$CUDA_INCLUDE/cuda.h"
# shellcheck disable=SC2046
run jextract --output "$OUT/src" --target-package dev.kvdecode.bindings.gen --header-class-name CublasGen \
    -I "$CUDA_INCLUDE" -I "$CUBLAS_INC" $(include_args "$OUT/cublas.symbols") "$CUBLAS_INC/cublas_v2.h"
