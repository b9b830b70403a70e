#!/usr/bin/env bash
# Greedy tokens of kvdecode and of llama.cpp on the same GGUF file, from the same prompt ids.
#   cd scripts/llamacpp && npm install        (once: node-llama-cpp 3.21.1 with its CPU prebuilt)
#   scripts/llamacpp/compare.sh FILE.gguf "prompt text" N
# Prints whether llama.cpp tokenizes the prompt to kvdecode's ids and where the greedy tokens
# first differ. KVDECODE overrides the CLI command (default: the ./kvdecode launcher).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
f="$(realpath "$1")"; text="$2"; n="$3"
KVDECODE="${KVDECODE:-$HERE/../../kvdecode}"
ours="$($KVDECODE generate --model "$f" --prompt "$text" --max-new-tokens "$n" --greedy --ignore-eos --backend cpu --json 2>/dev/null)"
pids="$(echo "$ours" | python3 -c "import json,sys; print(','.join(map(str, json.load(sys.stdin)['prompt_tokens'])))")"
theirs="$(cd "$HERE" && TEXT="$text" node greedy.mjs "$f" "$n" "$pids" 2>/dev/null)"
python3 - "$f" "$pids" "$ours" "$theirs" <<'PY'
import json, sys
f, p, ours, theirs = sys.argv[1:]
ours = json.loads(ours)["tokens"]
t = json.loads(theirs)
g = t["greedy"]
k = next((i for i, (a, b) in enumerate(zip(ours, g)) if a != b), min(len(ours), len(g)))
tok = "same" if t["tokenize"] == list(map(int, p.split(","))) else f"differs: {t['tokenize']}"
print(f"{f.split('/')[-1]}: prompt {p} (llama.cpp tokenizes: {tok}); greedy agree {k}/{len(ours)}"
      + ("" if k == len(ours) else f"; first divergence at token {k}: kvdecode {ours[k]}, llama.cpp {g[k]}"))
PY
