#!/usr/bin/env bash
# Builds the native parts into the kernels module's classes folder (called by Maven, phase
# generate-resources): the CUDA fatbin (nvcc; skipped with a notice where nvcc is absent) and the
# host-compiled device emulator library (g++). Usage: build-native.sh <output-classes-dir>
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: build-native.sh <output-classes-dir>}"
mkdir -p "$OUT"
if [[ -x "$ROOT/scripts/build-fatbin.sh" ]]; then "$ROOT/scripts/build-fatbin.sh" "$OUT"; fi
if [[ -x "$ROOT/scripts/build-emu.sh" ]]; then "$ROOT/scripts/build-emu.sh" "$OUT"; fi
