#!/usr/bin/env bash
# The output files of the commands that write models and data (issue 19,
# items 1-3): an output that exists and is not a regular file (a device, a
# FIFO, a directory) is refused before any work and left as it was; so is
# one whose directory is missing; SIGTERM and SIGINT during quantize leave
# no temporary; a temporary left by a killed run (kill -9) is removed by the
# next run on the same output, and one still being written is left alone.
# Usage: test_outputs.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
BIG=$SHARED/models/llama-125m-Q4_K_M.gguf
[ -f "$M" ] || { echo "SKIP: $M is absent"; exit 77; }
T=$(mktemp -d)
BG=""
trap '[ -n "$BG" ] && kill -9 $BG 2>/dev/null; rm -rf "$T"' EXIT

# A device node where we may make one (root), else a FIFO.
if mknod -m 666 "$T/dev" c 1 3 2>/dev/null; then NODE_TEST="-c"; else
  mkfifo "$T/dev"
  NODE_TEST="-p"
fi
mkfifo "$T/fifo"
mkdir "$T/dir"
# refused NAME OUT CMD...: CMD fails quickly, says why, and OUT is unchanged.
refused() {
  local name=$1 out=$2 test=$3
  shift 3
  timeout 20 "$MB" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  check "[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $test '$out' ] &&
         grep -qi 'not a regular file\|names a directory\|directory' '$T/err'" \
    "$name: not refused (rc $rc): $(head -c 300 "$T/err")"
  check "! ls '$(dirname "$out")' | grep -q 'tmp'" "$name: a temporary was left"
}

# 1. Every command that writes a model or data refuses a device, a FIFO or
# a directory as its output, and leaves it as it was.
refused "quantize to a device" "$T/dev" "$NODE_TEST" quantize "$M" "$T/dev" F16
refused "quantize to a FIFO" "$T/fifo" -p quantize "$M" "$T/fifo" F16
refused "quantize to a directory" "$T/dir" -d quantize "$M" "$T/dir" F16
refused "convert" "$T/dev" "$NODE_TEST" convert "$SHARED/models/stories260K.bin" "$T/dev" \
  --tokenizer "$SHARED/models/tok512.bin"
refused "lora-merge" "$T/dev" "$NODE_TEST" lora-merge "$M" "$T/none.gguf" -o "$T/dev"
refused "train" "$T/dev" "$NODE_TEST" train "$T/none.cfg" "$T/none.txt" -o "$T/dev"
refused "train --ckpt" "$T/fifo" -p train "$T/none.cfg" "$T/none.txt" -o "$T/m.gguf" \
  --ckpt "$T/fifo"
refused "distill" "$T/dir" -d distill "$M" --student "$T/none.cfg" "$T/none.txt" -o "$T/dir"
refused "finetune" "$T/dev" "$NODE_TEST" finetune "$M" "$T/none.txt" --lora 4 -o "$T/dev"
refused "calibrate -o" "$T/dev" "$NODE_TEST" calibrate "$M" "$T/none.txt" -o "$T/dev"
refused "calibrate --convert" "$T/fifo" -p calibrate --convert "$T/none.gguf" "$T/fifo"
refused "tokenizer-train" "$T/dev" "$NODE_TEST" tokenizer-train "$T/none.txt" --vocab 300 \
  -o "$T/dev"
refused "run --logits-out" "$T/dev" "$NODE_TEST" run "$M" "x" -n 1 --logits-out "$T/dev"
refused "perplexity base" "$T/fifo" -p perplexity "$M" "$T/none.txt" \
  --kl-divergence-base "$T/fifo"
# chat's /save too (the conversation, not a model, but the same rule).
printf '/save %s\n/exit\n' "$T/dev" | timeout 20 "$MB" chat "$M" -n 1 >/dev/null 2>"$T/err"
check "[ $NODE_TEST '$T/dev' ] && grep -q 'not a regular file' '$T/err'" \
  "chat /save to a device: $(tail -c 300 "$T/err")"

# 2. A directory as the output, a missing directory, or a name ending in '/'
# is refused before the work: the 125M model to Q6_K on one thread takes
# seconds, the refusal must not.
IN=$M
ARGS=(F16)
if [ -f "$BIG" ]; then IN=$BIG ARGS=(Q6_K --allow-requantize); fi
start=$(date +%s%N)
refused "quantize into a directory" "$T/dir" -d quantize "$IN" "$T/dir" "${ARGS[@]}" -t 1
ms=$((($(date +%s%N) - start) / 1000000))
check "[ $ms -lt 2000 ]" "the refusal came after the work ($ms ms)"
refused "quantize into a missing directory" "$T/dir" -d quantize "$IN" "$T/no/such/x.gguf" \
  "${ARGS[@]}" -t 1
refused "output named with a /" "$T/dir" -d quantize "$IN" "$T/new/" "${ARGS[@]}" -t 1
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$T/ro" && chmod 555 "$T/ro"
  refused "unwritable directory" "$T/ro" -d quantize "$M" "$T/ro/x.gguf" F16
fi
# The checks do not get in the way: a regular file is replaced, a new one made.
echo old >"$T/ok.gguf"
"$MB" quantize -q "$M" "$T/ok.gguf" F16 2>"$T/err"
check "[ \$? -eq 0 ] && [ \$(head -c 4 '$T/ok.gguf') = GGUF ]" "replacing a file: $(cat "$T/err")"

# 3. Temporaries. A slow quantization (the 125M model) stopped by SIGTERM or
# SIGINT leaves none; one killed with -9 leaves one, named with its process
# id, that the next run on that output removes.
# stop_midway SIGNAL: start quantizing to $T/big.gguf, wait for its
# temporary, send SIGNAL; sets RC (the exit status).
stop_midway() {
  set -m # job control: a background job keeps SIGINT
  "$MB" quantize -q "$BIG" "$T/big.gguf" Q6_K --allow-requantize -t 1 2>"$T/err" &
  BG=$!
  set +m
  for _ in $(seq 200); do
    ls "$T" | grep -q 'big.gguf.tmp' && break
    sleep 0.05
  done
  kill -"$1" "$BG"
  wait "$BG" 2>/dev/null
  RC=$?
  KILLED=$BG BG=""
}
if [ -f "$BIG" ]; then
  for sig in TERM INT; do
    stop_midway $sig
    check "[ $RC -gt 128 ] && ! ls '$T' | grep -q 'big.gguf'" \
      "SIG$sig (rc $RC) left: $(ls "$T" | grep big)"
  done
  stop_midway KILL
  left=$(ls "$T" | grep 'big.gguf.tmp' | head -1)
  check "[ -n '$left' ]" "kill -9 left no temporary (nothing to test)"
  check "echo '$left' | grep -q '^big.gguf.tmp.$KILLED[.]'" \
    "the temporary's name has no process id: $left"
  "$MB" quantize -q "$M" "$T/big.gguf" F16 2>"$T/err"
  check "[ \$? -eq 0 ] && ! ls '$T' | grep -q 'big.gguf.tmp'" \
    "the stale temporary was not removed: $(ls "$T" | grep big)"
  check "grep -q 'removed .*$left' '$T/err'" "its removal was not reported: $(cat "$T/err")"
fi
# Without the 125M model: stale temporaries made by hand. A dead process's
# is removed; a live one's (this shell's) and an unnamed one are reported.
sleep 0 &
dead=$!
wait $dead
: >"$T/s.gguf.tmp.$dead.AbC123"
: >"$T/s.gguf.tmp.$$.XyZ789"
: >"$T/s.gguf.tmp.Qq1234"
: >"$T/other.gguf.tmp.$dead.AbC123"
: >"$T/s.gguf.tmp.4294967297.AbC123" # no pid_t: never taken for process 1
"$MB" quantize -q "$M" "$T/s.gguf" F16 2>"$T/err"
check "[ \$? -eq 0 ] && [ ! -e '$T/s.gguf.tmp.$dead.AbC123' ]" "a dead process's temporary kept"
check "[ -e '$T/s.gguf.tmp.$$.XyZ789' ] && grep -q 'being written by process $$' '$T/err'" \
  "a live process's temporary: $(cat "$T/err")"
check "[ -e '$T/s.gguf.tmp.Qq1234' ] && grep -q 's.gguf.tmp.Qq1234' '$T/err'" \
  "an old-style temporary not reported"
check "[ -e '$T/other.gguf.tmp.$dead.AbC123' ]" "another output's temporary was removed"
check "[ -e '$T/s.gguf.tmp.4294967297.AbC123' ]" "an out-of-range process id was removed"

finish
