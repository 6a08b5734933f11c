#!/usr/bin/env bash
# The official `openai` package for Node.js (tests/node, installed by
# scripts/install-deps) drives `matchbox serve` with an API key: models.list,
# a chat completion, a stream assembled with for await (the plain answer's
# text), embeddings (the client's own base64 decoding, float and base64
# agreeing), a JSON-schema chat (strict, parsed and checked) and a two-step
# tool round trip. Under CI (CI=true) a missing node or package is a failure,
# not a skip.
# Usage: test_openai_node.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

# The cases tests/node/client.mjs runs: each is a function there.
CASES=(models chat stream embeddings schema tools)
# MB_NODE_CASES="..." runs only those cases (e.g. "embeddings" while developing).
[ -n "${MB_NODE_CASES:-}" ] && read -r -a CASES <<<"$MB_NODE_CASES"

NODE_DIR=$(cd "$(dirname "$0")/node" && pwd)
M=$SHARED/models/stories260K.gguf
missing() { # WHAT: fail under CI, skip elsewhere
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $1 (CI must run this test: scripts/install-deps installs it)" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
  echo "SKIP: $1 (scripts/install-deps installs it)"
  exit 77
}
command -v node >/dev/null || missing "node is not installed"
command -v curl >/dev/null || missing "curl is not installed"
[ -f "$NODE_DIR/node_modules/openai/package.json" ] ||
  missing "the openai package is not in $NODE_DIR/node_modules (npm ci there)"
[ -f "$M" ] || missing "$M is absent"
. "$(dirname "$0")/lib/serve.sh"

KEY=node-test-key
if ! start main "$M" -c 2048 --api-key "$KEY"; then
  echo "0 passed, 1 failed"
  exit 1
fi
echo "openai $(node -p "require('$NODE_DIR/node_modules/openai/package.json').version") on node $(node --version): ${CASES[*]}"
out=$(cd "$NODE_DIR" && MB_N_EMBD=64 timeout 600 node client.mjs "http://127.0.0.1:$PORT/v1" "$KEY" \
  stories260K "${CASES[@]}" 2>&1)
rc=$?
echo "$out"
check "[ $rc -eq 0 ]" "the openai client's cases (exit $rc)"
check "echo \"\$out\" | grep -q '^${#CASES[@]} passed, 0 failed'" "every case ran and passed"
# A wrong key is refused through the client too (401 → AuthenticationError).
bad=$(cd "$NODE_DIR" && timeout 60 node client.mjs "http://127.0.0.1:$PORT/v1" wrong-key stories260K models 2>&1)
check "echo \"\$bad\" | grep -q '401'" "a wrong API key is a 401 through the client"
finish
