#!/usr/bin/env bash
# The model's template reaches the model: `chat` and `serve` (both with
# --chat-template-file, which replaces the file's template) feed exactly the
# tokens of `chat-template`'s rendering of the same conversation, tokenized
# as a chat is; a template that raises is an error with its own message in
# both. Real templates from ../shared/templates on stories260K.
# Usage: test_chat_template_e2e.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
for need in curl python3; do
  command -v $need >/dev/null || { echo "SKIP: $need is not installed"; exit 77; }
done
[ -f "$M" ] && [ -d "$SHARED/templates" ] || { echo "SKIP: $SHARED is incomplete"; exit 77; }
. "$(dirname "$0")/lib/serve.sh"

SYSTEM="You tell short stories."
USER="Once upon a time there was a cat"
cat >"$T/conv.json" <<EOF
[{"role": "system", "content": "$SYSTEM"}, {"role": "user", "content": "$USER"}]
EOF

# The ids of TEXT_FILE as a chat is tokenized: special tokens parsed, BOS
# added unless the text starts with it.
chat_ids() {
  local text=$1 bos=$2 flags=""
  case "$(head -c ${#bos} "$text")" in "$bos") flags=--no-bos ;; esac
  "$MB" tokenize "$M" -f "$text" --ids $flags
}

for tmpl in Qwen-Qwen3-0.6B meta-llama-Llama-3.1-8B-Instruct microsoft-Phi-3.5-mini-instruct; do
  F=$SHARED/templates/$tmpl.jinja
  # stories260K's special tokens, as the model gives them to the template.
  "$MB" chat-template --file "$F" --messages "$T/conv.json" --var bos_token='<s>' \
    --var eos_token='</s>' --now 2024-07-26T10:00:00 >"$T/want.txt" 2>"$T/err.txt"
  check "[ -s $T/want.txt ]" "$tmpl: chat-template rendered nothing: $(cat "$T/err.txt")"
  want=$(chat_ids "$T/want.txt" '<s>' | tr -s ' \n' ' ' | sed 's/ *$//')

  # chat: the first turn feeds the whole rendering.
  printf '%s\n' "$USER" | "$MB" chat "$M" --system "$SYSTEM" --chat-template-file "$F" \
    --verbose-prompt -n 4 --temp 0 >/dev/null 2>"$T/chat.err"
  got=$(sed -n 's/^prompt tokens: //p' "$T/chat.err" | head -1)
  check "[ -n \"$want\" ] && [ \"$got\" = \"$want\" ]" \
    "$tmpl: chat fed [$got], chat-template's tokens are [$want]"

  # serve: the same conversation over the OpenAI API.
  start serve "$M" --chat-template-file "$F" --verbose-prompt
  body=$(python3 -c 'import json,sys; print(json.dumps({"messages": json.load(open(sys.argv[1])), "max_tokens": 2}))' "$T/conv.json")
  code=$(curl -s -m 60 -o "$T/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$body" "http://127.0.0.1:$PORT/v1/chat/completions")
  check "[ \"$code\" = 200 ]" "$tmpl: serve answered $code: $(cat "$T/answer.json")"
  got=$(sed -n 's/^prompt tokens: //p' "$T/serve.log" | head -1)
  check "[ \"$got\" = \"$want\" ]" "$tmpl: serve fed [$got], chat-template's tokens are [$want]"
  n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["usage"]["prompt_tokens"])' "$T/answer.json" 2>/dev/null)
  check "[ \"$n\" = $(echo "$want" | wc -w) ]" "$tmpl: usage.prompt_tokens $n"
  kill "$PID"
  wait "$PID" 2>/dev/null
done

# A template that raises: its own message, from chat-template and serve.
F=$SHARED/templates/google-gemma-2-2b-it.jinja
"$MB" chat-template --file "$F" --messages "$T/conv.json" >/dev/null 2>"$T/err.txt"
check "grep -q 'System role not supported' $T/err.txt" "chat-template: $(cat "$T/err.txt")"
start raising "$M" --chat-template-file "$F"
code=$(curl -s -m 60 -o "$T/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "$body" "http://127.0.0.1:$PORT/v1/chat/completions")
check "[ \"$code\" = 400 ] && grep -q 'System role not supported' $T/answer.json" \
  "serve with a raising template: $code $(cat "$T/answer.json")"
finish
