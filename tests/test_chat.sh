#!/usr/bin/env bash
# End-to-end tests of `matchbox chat`: commands, multi-turn without
# re-prefill, the context policies, each template family on the synthetic
# models, and Ctrl-C on a pseudo-terminal. Usage: test_chat.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

if [ ! -f "$SHARED/models/stories260K.gguf" ]; then
  echo "SKIP: $SHARED/models/stories260K.gguf is absent"
  exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
M=$SHARED/models/stories260K.gguf
# The value of FIELD in turn N's --verbose line ("[turn N: fed X tokens at
# position P (re-read R), ...").
turn_field() { sed -n "s/^\[turn $2: fed \([0-9]*\) tokens at position \([0-9]*\) (re-read \([0-9]*\)), answered \([0-9]*\) tokens, context \([0-9]*\)\/.*/\\$3/p" "$1"; }

check "'$MB' chat --help | grep -q -- --chat-template" "chat --help"

# The issue's example: /clear, /save and /exit on a piped stdin.
printf 'Hello\n/clear\nOnce upon a time\n/save %s\n/exit\n' "$T/a.json" |
  "$MB" chat "$M" -n 16 --temp 0 >"$T/a.out" 2>"$T/a.err"
check "[ \$? -eq 0 ]" "chat exits 0"
check "grep -q 'no chat template.*ChatML.*--chat-template' '$T/a.err'" "fallback notice"
check "python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))[\"messages\"]; \
sys.exit(0 if [x[\"role\"] for x in m]==[\"user\",\"assistant\"] and m[0][\"content\"]==\"Once upon a time\" \
and len(m[1][\"content\"])>0 else 1)' '$T/a.json'" "/save after /clear holds only the second turn"
check "[ -z \"\$(ls '$T' | grep tmp)\" ]" "/save leaves no temporary file"

# End of input ends the program cleanly.
printf 'Hi' | "$MB" chat "$M" -n 4 --temp 0 >/dev/null 2>&1
check "[ \$? -eq 0 ]" "EOF exits 0"

# Multi-turn: turn 2 and 3 feed only their own text at the position where
# the previous turn ended, and the answer is the one a fresh run of the whole
# conversation gives (the cache holds exactly that conversation).
printf 'Once upon a time\nThe dog\nA cat\n/save %s\n' "$T/b.json" |
  "$MB" chat "$M" -n 16 --temp 0 -v >"$T/b.out" 2>"$T/b.err"
for t in 2 3; do
  p=$(turn_field "$T/b.err" $t 2)
  prev=$(turn_field "$T/b.err" $((t - 1)) 5)
  fed=$(turn_field "$T/b.err" $t 1)
  rr=$(turn_field "$T/b.err" $t 3)
  check "[ -n '$p' ] && [ '$p' = '$prev' ] && [ '$rr' = 0 ] && [ '$fed' -lt '$p' ]" \
    "turn $t: fed $fed tokens at $p (previous context $prev, re-read $rr)"
done
python3 - "$T/b.json" >"$T/b.prompt" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["messages"]
sys.stdout.write("".join("<|im_start|>%s\n%s<|im_end|>\n" % (x["role"], x["content"]) for x in m[:-1]))
sys.stdout.write("<|im_start|>assistant\n")
PY
want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["messages"][-1]["content"])' "$T/b.json")
got=$("$MB" run "$M" -f "$T/b.prompt" -n 16 --temp 0 --no-display-prompt 2>/dev/null)
check "[ \"\$got\" = \"\$want\" ]" "turn 3 = fresh run of the conversation: [$got] vs [$want]"

# Context policies on a small context: 'error' refuses the turn and goes on;
# 'drop' drops the oldest turn, keeps the system prompt, and says so.
printf 'Once upon a time\nThe dog\n/save %s\n' "$T/c.json" |
  "$MB" chat "$M" -n 16 --temp 0 -c 100 --context-policy error >/dev/null 2>"$T/c.err"
check "[ \$? -eq 0 ] && grep -q 'conversation is full.*/clear' '$T/c.err'" "policy error message"
check "python3 -c 'import json,sys; sys.exit(len(json.load(open(sys.argv[1]))[\"messages\"]) != 2)' '$T/c.json'" \
  "policy error keeps the conversation"
printf 'Once upon a time\nThe dog\n/save %s\n' "$T/d.json" |
  "$MB" chat "$M" -n 16 --temp 0 -c 120 --system 'Be kind.' >/dev/null 2>"$T/d.err"
check "[ \$? -eq 0 ] && grep -q \"policy 'drop'.*dropped\" '$T/d.err'" "policy drop is reported"
check "python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))[\"messages\"]; \
sys.exit(0 if [x[\"role\"] for x in m]==[\"system\",\"user\",\"assistant\"] and m[1][\"content\"]==\"The dog\" else 1)' '$T/d.json'" \
  "policy drop keeps the system prompt and the new turn"

# An unknown template name is refused with the choices.
"$MB" chat "$M" --chat-template vicuna </dev/null >/dev/null 2>"$T/e.err"
check "[ \$? -ne 0 ] && grep -q 'chatml, llama2' '$T/e.err'" "unknown --chat-template"

# Synthetic models (cached next to the binary's build directory), two turns
# in each template family on llama-tiny, and in the families the other
# architectures' models use; the second turn feeds only its own text.
MD=$(cd "$(dirname "$MB")/.." && pwd)/test-models
mkdir -p "$MD"
synth() {
  [ -f "$MD/$1.gguf" ] && return 0
  python3 "$SHARED/tools/synth_gguf.py" "$1" "$MD/$1.gguf.chat.$$" 2>/dev/null &&
    mv "$MD/$1.gguf.chat.$$" "$MD/$1.gguf"
}
for preset in llama-tiny moe-tiny qwen2-tiny; do
  if ! synth $preset; then
    bad "synth_gguf.py $preset"
    continue
  fi
  if ! "$MB" run "$MD/$preset.gguf" "Hi" -n 1 --temp 0 >/dev/null 2>"$T/probe.err"; then
    echo "note: $preset does not run yet ($(head -c 160 "$T/probe.err")); chat not tested on it"
    continue
  fi
  case $preset in
  llama-tiny) families="chatml llama2 llama3 mistral mistral-v1 mistral-tekken mistral-v7 gemma phi3" ;;
  moe-tiny) families="mistral-v1 llama2" ;;
  *) families="chatml" ;;
  esac
  for tmpl in $families; do
    printf 'Hello there\nTell me more\n/exit\n' |
      "$MB" chat "$MD/$preset.gguf" --chat-template $tmpl --system 'Be brief.' -n 8 --temp 0 -v \
        >/dev/null 2>"$T/s.err"
    rc=$?
    p=$(turn_field "$T/s.err" 2 2)
    prev=$(turn_field "$T/s.err" 1 5)
    check "[ $rc -eq 0 ] && [ -n '$p' ] && [ '$p' -ge 1 ] && [ '$p' -le '$prev' ]" \
      "$preset $tmpl: rc $rc, turn 2 at position [$p] after context [$prev]"
  done
done

# On a pseudo-terminal, Ctrl-C stops the answer, not the program.
if synth llama-tiny; then
  python3 - "$MB" "$MD/llama-tiny.gguf" "$T/p.json" >"$T/pty.log" 2>&1 <<'PY'
import os, pty, select, sys, time
mb, model, save = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(mb, [mb, "chat", model, "-n", "-1", "-c", "2048", "--temp", "0"])
out = b""
def read_for(sec, until=None):
    global out
    end = time.time() + sec
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return
        if until and until in out:
            return
read_for(60, b"> ")
os.write(fd, b"Tell me a long story\n")
# Ctrl-C as soon as the answer has begun: the whole answer (to the full
# context) can take well under a second on a fast machine, so a fixed
# wait could see it end on its own.
start = len(out)
end = time.time() + 30
while len(out) < start + 48 and time.time() < end:
    read_for(0.01)
os.write(fd, b"\x03")
read_for(30, b"[interrupted]")
read_for(5, b"> ")
os.write(fd, ("/save %s\n/exit\n" % save).encode())
read_for(30)
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
print("exit", code, "interrupted" if b"[interrupted]" in out else "not-interrupted")
PY
  check "grep -q 'exit 0 interrupted' '$T/pty.log'" "pty: Ctrl-C stops the answer: $(tail -c 300 "$T/pty.log")"
  check "[ -f '$T/p.json' ]" "pty: the program went on after Ctrl-C (/save worked)"
fi

finish
