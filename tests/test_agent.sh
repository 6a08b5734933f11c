#!/usr/bin/env bash
# End-to-end tests of the guardian/oracle agent with a REAL second server:
# `matchbox serve` of a random-weight llama (the oracle, behind an API key)
# on one loopback port, and `matchbox serve --oracle` / `matchbox agent` of
# stories260K (the guardian). Checks who answers and why, that private
# requests never reach the oracle (its own metrics), that only redacted text
# leaves (the audit log), the key never in the log, and the local fallbacks
# when the oracle is down or its budget is spent.
# Usage: test_agent.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

G=$SHARED/models/stories260K.gguf
O=$SHARED/models/llama-2-tiny-random.gguf
for need in curl python3; do
  command -v $need >/dev/null || { echo "SKIP: $need is not installed"; exit 77; }
done
[ -f "$G" ] && [ -f "$O" ] || { echo "SKIP: models in $SHARED/models are absent"; exit 77; }
. "$(dirname "$0")/lib/serve.sh"
export ORACLE_KEY="sk-agent-test-$$-SECRET"

# serve1 NAME ARGS...: a one-thread server (tests/lib/serve.sh's start); a
# server that does not start ends the test.
serve1() { start "$@" -t 1 || exit 1; }

# post NAME PORT PATH BODY [curl args]: body in NAME.json, headers in NAME.h.
post() {
  local name=$1 port=$2 path=$3 body=$4
  shift 4
  curl -s -m 60 -D "$T/$name.h" -o "$T/$name.json" -w '%{http_code}' \
    -H 'Content-Type: application/json' --data-binary "$body" "$@" \
    "http://127.0.0.1:$port$path" >"$T/$name.code"
}
js() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/$1.json" "$2" 2>/dev/null; }
by_header() { tr -d '\r' <"$T/$1.h" | sed -n 's/^[Xx]-[Mm]atchbox-[Aa]nswered-[Bb]y: //p'; }
# Chat completions the oracle has answered (its own count, any status).
oracle_count() {
  curl -s -m 5 -H "Authorization: Bearer $ORACLE_KEY" "http://127.0.0.1:$OPORT/metrics" |
    awk '/^matchbox_requests_total\{endpoint="\/v1\/chat\/completions"/ {n += $2} END {print n + 0}'
}
chat() { # chat CONTENT [EXTRA JSON FIELDS]
  python3 -c 'import json,sys; d={"messages":[{"role":"user","content":sys.argv[1]}],"max_tokens":16,"temperature":0}; d.update(json.loads(sys.argv[2])); print(json.dumps(d))' "$1" "${2:-{\}}"
}

serve1 oracle "$O" --api-key "$ORACLE_KEY" --slots 1 --alias tiny-oracle
OPORT=$PORT
URL="http://127.0.0.1:$OPORT/v1"
AUDIT=$T/audit.jsonl
serve1 guardian "$G" --slots 2 -c 256 --oracle "$URL" --oracle-model tiny-oracle \
  --oracle-key-env ORACLE_KEY --audit-log "$AUDIT"
GPORT=$PORT

# 1. In domain: a story opening, drafted and kept by the guardian.
n0=$(oracle_count)
post keep $GPORT /v1/completions \
  '{"prompt":"Once upon a time, in a small town, there lived a brave little boy.","max_tokens":32,"temperature":0}'
check '[ "$(cat $T/keep.code)" = 200 ]' "in-domain: HTTP $(cat $T/keep.code)"
check '[ "$(js keep "d[\"matchbox\"][\"answered_by\"]")" = guardian ]' "in-domain answered by $(js keep 'd["matchbox"]')"
check '[ "$(by_header keep)" = guardian ]' "in-domain header: $(by_header keep)"
check '[ -n "$(js keep "d[\"choices\"][0][\"text\"]")" ]' "in-domain: no text"
check '[ "$(oracle_count)" = "$n0" ]' "in-domain: the oracle was asked"

# 2. Marked hard (header, then body): the oracle answers; its model name shows.
post hard $GPORT /v1/chat/completions "$(chat 'Explain the doctrine of promissory estoppel.')" -H 'X-Matchbox-Hard: 1'
check '[ "$(cat $T/hard.code)" = 200 ]' "hard: HTTP $(cat $T/hard.code) $(cat $T/hard.json)"
check '[ "$(js hard "d[\"matchbox\"][\"answered_by\"]")" = oracle ]' "hard answered by $(js hard 'd["matchbox"]')"
check '[ "$(by_header hard)" = oracle ]' "hard header: $(by_header hard)"
check '[ "$(js hard "d[\"matchbox\"][\"reason\"]")" = "marked hard" ]' "hard reason: $(js hard 'd["matchbox"]["reason"]')"
check '[ "$(oracle_count)" = $((n0 + 1)) ]' "hard: the oracle's count is $(oracle_count), not $((n0 + 1))"
post hard2 $GPORT /v1/chat/completions "$(chat 'Prove that sqrt 2 is irrational.' '{"matchbox":{"hard":true}}')"
check '[ "$(js hard2 "d[\"matchbox\"][\"answered_by\"]")" = oracle ]' "body-hard answered by $(js hard2 'd["matchbox"]')"

# 3. Private (body and header) and hard: never sent; the oracle's count stays.
n1=$(oracle_count)
post priv $GPORT /v1/chat/completions "$(chat 'My card 4111 1111 1111 1111 was charged twice.' '{"private":true,"matchbox":{"hard":true}}')"
check '[ "$(js priv "d[\"matchbox\"][\"answered_by\"]")" = guardian ]' "private answered by $(js priv 'd["matchbox"]')"
check '[ "$(js priv "d[\"matchbox\"][\"reason\"]")" = private ]' "private reason: $(js priv 'd["matchbox"]["reason"]')"
post priv2 $GPORT /v1/chat/completions "$(chat 'Call Dr. Sarah Mitchell at +44 20 7946 0958.')" -H 'X-Matchbox-Private: 1' -H 'X-Matchbox-Hard: 1'
check '[ "$(by_header priv2)" = guardian ]' "header-private answered by $(by_header priv2)"
check '[ "$(oracle_count)" = "$n1" ]' "private: the oracle's count went from $n1 to $(oracle_count)"
check '! grep -q "4111 1111 1111 1111" "$AUDIT" && ! grep -q "7946 0958" "$AUDIT"' "private text in the audit log"
check '[ "$(tail -1 $AUDIT | python3 -c "import json,sys; d=json.load(sys.stdin); print(d[\"sent\"], d[\"reason\"])")" = "None private" ]' "private audit line: $(tail -1 $AUDIT)"

# 4. Redaction: what leaves has placeholders; the answer has the originals back.
post red $GPORT /v1/chat/completions "$(chat 'Write to bob.smith@example.com about card 4111 1111 1111 1111.')" -H 'X-Matchbox-Hard: 1'
check '[ "$(js red "d[\"matchbox\"][\"redactions\"]")" -ge 2 ]' "redactions: $(js red 'd["matchbox"]')"
check 'grep -q "\[EMAIL_1\]" "$AUDIT" && grep -q "\[CARD_1\]" "$AUDIT"' "no placeholders in the audit log"
check '! grep -q "bob.smith@example.com" "$AUDIT" && ! grep -q "4111 1111 1111 1111" "$AUDIT"' "raw personal data in the audit log"
check '! grep -q "$ORACLE_KEY" "$AUDIT" "$T/guardian.log"' "the key is in the audit log or the server log"
check 'grep -q "\"url\":\"$URL\"" "$AUDIT"' "the audit log does not name the oracle URL"

# 5. Streaming: an oracle answer is relayed as SSE with the header set.
curl -s -m 60 -D "$T/stream.h" -o "$T/stream.txt" -H 'Content-Type: application/json' -H 'X-Matchbox-Hard: 1' \
  --data-binary "$(chat 'Summarize GDPR article 17.' '{"stream":true}')" "http://127.0.0.1:$GPORT/v1/chat/completions"
check '[ "$(by_header stream)" = oracle ]' "stream header: $(by_header stream)"
check 'tail -3 "$T/stream.txt" | grep -q "data: \[DONE\]"' "stream: no [DONE]"
check 'grep -q "\"answered_by\":\"oracle\"" "$T/stream.txt"' "stream: no matchbox object"
curl -s -m 60 -D "$T/gstream.h" -o "$T/gstream.txt" -H 'Content-Type: application/json' -H 'X-Matchbox-Private: 1' \
  --data-binary "$(chat 'Once upon a time there was a cat.' '{"stream":true}')" "http://127.0.0.1:$GPORT/v1/chat/completions"
check '[ "$(by_header gstream)" = guardian ] && grep -q "data: \[DONE\]" "$T/gstream.txt"' "guardian stream: $(by_header gstream)"

curl -s -m 60 -D "$T/kstream.h" -o "$T/kstream.txt" -H 'Content-Type: application/json' \
  --data-binary '{"prompt":"Once upon a time, in a small town, there lived a brave little boy.","max_tokens":32,"temperature":0,"stream":true}' \
  "http://127.0.0.1:$GPORT/v1/completions"
check '[ "$(by_header kstream)" = guardian ] && [ "$(grep -c "^data: {" "$T/kstream.txt")" -gt 4 ]' "kept draft not streamed in pieces: $(by_header kstream) $(grep -c "^data: {" "$T/kstream.txt") chunks"

# 6. Longer than the guardian's context (256): escalated.
long=$(python3 -c 'print("The cat sat on the mat and looked at the sun. " * 60)')
post long $GPORT /v1/completions "$(python3 -c 'import json,sys; print(json.dumps({"prompt":sys.argv[1],"max_tokens":8}))' "$long")"
check '[ "$(js long "d[\"matchbox\"][\"answered_by\"]")" = oracle ]' "too long: $(cat $T/long.code) $(head -c 300 $T/long.json)"
check 'js long "d[\"matchbox\"][\"reason\"]" | grep -q context' "too long reason: $(js long 'd["matchbox"]["reason"]')"

# 7. The budget spent: the local answer, flagged; the oracle not asked.
serve1 budget "$G" --slots 1 --oracle "$URL" --oracle-key-env ORACLE_KEY --oracle-budget 20
BPORT=$PORT
n2=$(oracle_count)
post bud $BPORT /v1/chat/completions "$(chat 'Solve 3x + 2y = 12.')" -H 'X-Matchbox-Hard: 1'
check '[ "$(cat $T/bud.code)" = 200 ] && [ "$(js bud "d[\"matchbox\"][\"answered_by\"]")" = guardian ]' "budget: $(cat $T/bud.code) $(js bud 'd.get("matchbox")')"
check 'js bud "d[\"matchbox\"][\"reason\"]" | grep -q "budget exhausted"' "budget reason: $(js bud 'd["matchbox"]["reason"]')"
check '[ "$(oracle_count)" = "$n2" ]' "budget: the oracle was asked"

# 8. The oracle down (nothing listens on its port): the local answer, flagged.
serve1 down "$G" --slots 1 --oracle "http://127.0.0.1:1/v1" --oracle-retries 1 --oracle-timeout 5
DPORT=$PORT
post down $DPORT /v1/chat/completions "$(chat 'What is the dose of amoxicillin?')" -H 'X-Matchbox-Hard: 1'
check '[ "$(cat $T/down.code)" = 200 ] && [ "$(by_header down)" = guardian ]' "oracle down: $(cat $T/down.code) $(by_header down)"
check 'js down "d[\"matchbox\"][\"reason\"]" | grep -q unreachable' "oracle down reason: $(js down 'd["matchbox"]["reason"]')"

# 9. matchbox agent in the terminal: who answered and why on stderr.
"$MB" agent "$G" --oracle "$URL" --oracle-model tiny-oracle --oracle-key-env ORACLE_KEY -t 1 \
  --hard --audit-log "$T/cli.jsonl" --max-tokens 16 "Explain TCP slow start." >"$T/cli1.out" 2>"$T/cli1.err"
check 'grep -q "answered by oracle (marked hard" "$T/cli1.err"' "agent --hard: $(cat $T/cli1.err)"
check '[ -s "$T/cli1.out" ] && ! grep -q "$ORACLE_KEY" "$T/cli.jsonl" "$T/cli1.err"' "agent --hard: no answer, or the key leaked"
n3=$(oracle_count)
"$MB" agent "$G" --oracle "$URL" --oracle-key-env ORACLE_KEY -t 1 --private --hard \
  "Mail jane.doe@example.org my IBAN DE89 3704 0044 0532 0130 00." >"$T/cli2.out" 2>"$T/cli2.err"
check 'grep -q "answered by guardian (private)" "$T/cli2.err" && [ "$(oracle_count)" = "$n3" ]' "agent --private: $(cat $T/cli2.err)"
printf 'Once upon a time, there was a little girl named Lily. She loved to play in the park.\n' |
  "$MB" agent "$G" --oracle "$URL" --oracle-key-env ORACLE_KEY -t 1 >"$T/cli3.out" 2>"$T/cli3.err"
check 'grep -q "answered by guardian (confident" "$T/cli3.err"' "agent in-domain: $(cat $T/cli3.err)"
"$MB" agent "$G" --oracle "http://127.0.0.1:1/v1" --oracle-retries 0 -t 1 --hard "Hi" >"$T/cli4.out" 2>"$T/cli4.err"
check 'grep -q "127.0.0.1:1/v1/chat/completions" "$T/cli4.err" && grep -q "answered by guardian (marked hard; oracle unreachable" "$T/cli4.err"' "agent oracle down: $(cat $T/cli4.err)"

# A wrong key: 401, refused once and not retried (the oracle counts one 401).
c401() {
  curl -s -m 5 -H "Authorization: Bearer $ORACLE_KEY" "http://127.0.0.1:$OPORT/metrics" |
    awk '/^matchbox_requests_total\{endpoint="\/v1\/chat\/completions",status="401"/ {n += $2} END {print n + 0}'
}
k0=$(c401)
WRONG_KEY=nope "$MB" agent "$G" --oracle "$URL" --oracle-key-env WRONG_KEY --oracle-retries 3 -t 1 --hard \
  "Hi" >"$T/k.out" 2>"$T/k.err"
check 'grep -q "HTTP 401" "$T/k.err" && grep -q "oracle refused the request" "$T/k.err"' "wrong key: $(cat $T/k.err)"
check '[ "$(c401)" = $((k0 + 1)) ]' "wrong key: the oracle saw $(( $(c401) - k0 )) tries, not 1"
check '! grep -q nope "$T/k.err"' "wrong key: the key is in the error"

# The CLI's budget persists in its state file across runs.
for i in 1 2; do
  "$MB" agent "$G" --oracle "$URL" --oracle-model tiny-oracle --oracle-key-env ORACLE_KEY -t 1 --hard --max-tokens 16 \
    --oracle-budget $((i == 1 ? 100 : 60)) --budget-state "$T/budget.json" "Explain TCP." >"$T/b$i.out" 2>"$T/b$i.err"
done
check 'grep -q "answered by oracle" "$T/b1.err" && grep -q "\"used\": [1-9]" "$T/budget.json"' "agent budget 1: $(cat $T/b1.err) $(cat $T/budget.json)"
check 'grep -q "budget exhausted" "$T/b2.err"' "agent budget 2: $(cat $T/b2.err)"

# 10. The calibration on the labeled set: no private prompt leaves.
"$MB" agent "$G" --calibrate "$(dirname "$0")/data/agent_router.tsv" -n 32 -t 1 >"$T/cal.out" 2>&1
check 'grep -q "^private prompts that left the device: 0 " "$T/cal.out"' "calibrate: $(tail -12 $T/cal.out)"
check 'grep -q "^cross-validated (train): escalation precision" "$T/cal.out"' "calibrate: no precision line"

# 11. summarize --oracle: only the final merge goes out, and it says how
# much less that is than the whole document; progress gives the time left.
head -c 7000 "$SHARED/data/sotu-2002-GWBush.txt" >"$T/doc.txt"
"$MB" summarize "$G" "$T/doc.txt" --oracle "$URL" --oracle-model tiny-oracle \
  --oracle-key-env ORACLE_KEY --words 20 -c 512 -t 1 --seed 1 >"$T/sum.out" 2>"$T/sum.err"
saved=$(sed -n 's/^oracle: sent \([0-9]*\) tokens.* whole document.s \([0-9]*\):.*/\1 \2/p' "$T/sum.err")
check '[ -n "$saved" ] && [ ${saved% *} -lt ${saved#* } ]' "summarize: no saving line: $(tail -5 $T/sum.err)"
check 'grep -q "s left at this level" "$T/sum.err"' "summarize: no time left shown: $(grep chunk $T/sum.err | head -3)"

finish
