#!/usr/bin/env bash
# Speculative decoding from the CLI (-md, --lookup, --draft-max,
# --draft-min): `run` and `chat` print what plain generation prints, greedy,
# on stories260K with itself as draft (every draft accepted) and with prompt
# lookup; run reports the drafts on its timing lines; `serve` with
# --lookup and -md answers a greedy completion with plain serve's text;
# a draft of another vocabulary and out-of-range values are refused with a
# message, by run and by serve.
# Usage: test_speculative_cli.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"
M=$SHARED/models/stories260K.gguf
V=$SHARED/models/llama-2-tiny-random.gguf
[ -f "$M" ] || {
  echo "SKIP: $M is absent"
  exit 77
}
. "$(dirname "$0")/lib/serve.sh"
P="Once upon a time, there was a little girl named Lily. She loved to play. Once upon a time,"

check "'$MB' run --help | grep -q -- '-md, --model-draft FILE'" "run --help lists -md"
check "'$MB' chat --help | grep -q -- '--lookup N'" "chat --help lists --lookup"

"$MB" run "$M" "$P" -n 120 --temp 0 -t 2 >"$T/plain.out" 2>"$T/plain.err"
check "[ \$? -eq 0 ]" "plain run exits 0"
check "! grep -q speculative '$T/plain.err'" "plain run prints no speculative line"
for flags in "--lookup 3" "--lookup 2 --draft-max 3" "-md $M" "-md $M --draft-max 16 --draft-min 2"; do
  "$MB" run "$M" "$P" -n 120 --temp 0 -t 2 $flags >"$T/spec.out" 2>"$T/spec.err"
  check "[ \$? -eq 0 ]" "run $flags exits 0"
  check "cmp -s '$T/plain.out' '$T/spec.out'" "run $flags prints what plain greedy prints"
  check "grep -q '^speculative: [0-9]* drafted, [0-9]* accepted' '$T/spec.err'" \
    "run $flags reports its drafts"
done
"$MB" run "$M" "$P" -n 120 --temp 0 -t 2 -md "$M" >/dev/null 2>"$T/self.err"
check "grep -q 'accepted (100.0%)' '$T/self.err'" "the model as its own draft: every draft accepted"
# Sampling runs and reports too (its distribution: test_speculative_stats).
"$MB" run "$M" "$P" -n 60 --temp 0.8 -s 3 -t 2 --lookup 3 >/dev/null 2>"$T/samp.err"
check "[ \$? -eq 0 ] && grep -q '^speculative:' '$T/samp.err'" "sampling with --lookup"

# chat: the same answers, turn after turn (the draft follows the cache).
printf 'Hello\nTell me a story\n' | "$MB" chat "$M" -n 40 --temp 0 -t 2 >"$T/chat.plain" 2>/dev/null
printf 'Hello\nTell me a story\n' | "$MB" chat "$M" -n 40 --temp 0 -t 2 -md "$M" -v \
  >"$T/chat.spec" 2>"$T/chat.err"
check "cmp -s '$T/chat.plain' '$T/chat.spec'" "chat -md answers as plain chat"
check "grep -q '^speculative:' '$T/chat.err'" "chat -v reports the drafts"
printf 'Hello\nTell me a story\n' | "$MB" chat "$M" -n 40 --temp 0 -t 2 --lookup 2 \
  >"$T/chat.look" 2>/dev/null
check "cmp -s '$T/chat.plain' '$T/chat.look'" "chat --lookup answers as plain chat"

# Refusals.
if [ -f "$V" ]; then
  "$MB" run "$M" "$P" -n 8 -md "$V" >/dev/null 2>"$T/vocab.err"
  check "[ \$? -ne 0 ] && grep -q 'same vocabulary' '$T/vocab.err'" \
    "a draft of another vocabulary is refused"
fi
"$MB" run "$M" "$P" -n 8 --draft-max 0 >/dev/null 2>"$T/range.err"
check "[ \$? -ne 0 ] && grep -q -- '--draft-max' '$T/range.err'" "--draft-max 0 is refused"
"$MB" run "$M" "$P" -n 8 -md /nonexistent.gguf >/dev/null 2>"$T/missing.err"
check "[ \$? -ne 0 ] && grep -q 'draft model /nonexistent.gguf' '$T/missing.err'" \
  "a missing draft model is named"

# serve: each slot speculates (two slots, so that batching would apply).
if command -v curl >/dev/null && command -v python3 >/dev/null; then
  body=$(python3 -c 'import json,sys; print(json.dumps({"prompt":sys.argv[1],"max_tokens":60,"temperature":0}))' "$P")
  text() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][0]["text"])' "$1"; }
  n=0
  for flags in "" "--lookup 3" "-md $M"; do
    n=$((n + 1))
    if start "s$n" "$M" -c 256 --slots 2 $flags; then
      curl -s -m 60 -o "$T/c$n.json" -d "$body" "http://127.0.0.1:$PORT/v1/completions"
      text "$T/c$n.json" >"$T/c$n.txt"
      check "[ -s '$T/c$n.txt' ]" "serve $flags answers"
      [ $n -gt 1 ] && check "cmp -s '$T/c1.txt' '$T/c$n.txt'" "serve $flags answers as plain serve"
      kill "$PID"
    else
      bad "serve $flags did not start"
    fi
  done
  if [ -f "$V" ]; then
    "$MB" serve "$M" -md "$V" --port 0 >"$T/sv.log" 2>&1 &
    spid=$!
    for _ in $(seq 50); do kill -0 $spid 2>/dev/null || break; sleep 0.1; done
    kill $spid 2>/dev/null
    check "grep -q 'same vocabulary' '$T/sv.log'" "serve refuses a draft of another vocabulary"
  fi
fi
finish
