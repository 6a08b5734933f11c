#!/usr/bin/env bash
# Careless or hostile input to the CLI (issue 19, items 4, 16-18): a FIFO,
# a directory or a device named as the model is refused at once as "not a
# regular file" (a FIFO used to hang); summarize refuses an empty text; the
# agent takes a stdin line of any length as one prompt; sampling flags with
# values that make no sense (a negative temperature, top-p above 1, ...) are
# refused by every command that takes them.
# Usage: test_cli_input.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

MB=$(cd "$(dirname "$MB")" && pwd)/$(basename "$MB")
M=$(cd "$SHARED" 2>/dev/null && pwd)/models/stories260K.gguf
[ -f "$M" ] || { echo "SKIP: $M is absent"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# No default model to fall back on: the one named is the one used.
export MATCHBOX_MODEL="" HOME=$T XDG_CACHE_HOME=$T/cache
cd "$T" || exit 1

# 4. Not a regular file as the model: refused quickly, saying so.
mkfifo "$T/fifo"
mkdir "$T/dir"
# not_regular NAME CMD...: fails within 10 s with "not a regular file".
not_regular() {
  local name=$1
  shift
  timeout 10 "$MB" "$@" </dev/null >"$T/out" 2>"$T/err"
  local rc=$?
  check "[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'not a regular file' '$T/err'" \
    "$name (rc $rc): $(head -c 300 "$T/err")"
}
not_regular "run FIFO" run "$T/fifo" "hello" -n 1
not_regular "run -m FIFO" run -m "$T/fifo" "hello" -n 1
not_regular "run DIR PROMPT" run "$T/dir" "hello" -n 1
not_regular "run DIR" run "$T/dir" -n 1
not_regular "run device" run /dev/null "hello" -n 1
not_regular "chat FIFO" chat "$T/fifo"
not_regular "summarize DIR FILE" summarize "$T/dir" "$M"
not_regular "quantize FIFO" quantize "$T/fifo" "$T/q.gguf" F16
not_regular "inspect FIFO" inspect "$T/fifo"
not_regular "perplexity DIR" perplexity "$T/dir" "$M"

# 16. summarize: an empty or blank text is an error, not an invented summary.
: >"$T/empty.txt"
printf ' \n\t\n  \r\n' >"$T/blank.txt"
for f in empty blank; do
  "$MB" summarize "$M" "$T/$f.txt" --words 8 >"$T/out" 2>"$T/err"
  rc=$?
  check "[ $rc -ne 0 ] && grep -q 'nothing to summarize' '$T/err' && [ ! -s '$T/out' ]" \
    "summarize of a $f text (rc $rc): $(tail -c 300 "$T/err")"
done
printf '   ' | "$MB" summarize "$M" - >"$T/out" 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q 'stdin.*nothing to summarize' '$T/err'" "summarize of blank stdin"

# 17. agent: a 100 KiB line is one prompt (it used to be two, cut at 64 KiB);
# two lines are two. Private prompts stay local, so the oracle is never asked.
agent() {
  "$MB" agent "$M" --oracle http://127.0.0.1:9/v1 --private -n 1 -c 128 -t 1 \
    >"$T/out" 2>"$T/err"
}
head -c 102400 /dev/zero | tr '\0' 'a' >"$T/long.txt"
echo >>"$T/long.txt"
agent <"$T/long.txt"
rc=$?
n=$(grep -c 'agent: answered by' "$T/err")
check "[ $rc -eq 0 ] && [ $n -eq 1 ]" "a 100 KiB line gave $n answers (rc $rc): $(tail -3 "$T/err")"
printf 'one\ntwo\n' | agent
n=$(grep -c 'agent: answered by' "$T/err")
check "[ $n -eq 2 ]" "two lines gave $n answers"

# 18. Sampling flags: nonsense values are refused, sensible edges accepted.
# bad_flag CMD ARGS...: exits non-zero before loading, naming the flag.
bad_flag() {
  local flag=$2 value=$3
  "$MB" "$1" "$M" "$flag" "$value" -n 1 "x" </dev/null >"$T/out" 2>"$T/err"
  local rc=$?
  check "[ $rc -ne 0 ] && grep -q -- '$flag' '$T/err'" "$1 $flag $value accepted (rc $rc)"
}
for cmd in run agent summarize chat; do
  bad_flag $cmd --temp -1
done
bad_flag run --temp -0.5
bad_flag run --top-p 1.5
bad_flag run --top-p -0.1
bad_flag run --min-p 2
bad_flag run --min-p -1
bad_flag run --repeat-penalty 0
bad_flag run --repeat-penalty -1
bad_flag run --temp 1e39
bad_flag run --top-k -1
bad_flag run --repeat-last-n -5
"$MB" distill "$M" --student x.cfg x.txt -o "$T/s.gguf" --temp 0 >/dev/null 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q -- '--temp' '$T/err'" "distill --temp 0 accepted"
"$MB" distill "$M" --student x.cfg x.txt -o "$T/s.gguf" --alpha 1.5 >/dev/null 2>"$T/err"
check "[ \$? -ne 0 ] && grep -q -- '--alpha' '$T/err'" "distill --alpha 1.5 accepted"
"$MB" run "$M" --temp 0 --top-p 1 --min-p 0 --repeat-penalty 1.1 --presence-penalty -0.5 \
  -n 2 "x" >/dev/null 2>"$T/err"
check "[ \$? -eq 0 ]" "sensible sampling flags refused: $(tail -2 "$T/err")"

finish
