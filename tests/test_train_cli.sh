#!/usr/bin/env bash
# End-to-end test of `matchbox tokenizer-train` and `matchbox train`: a
# tokenizer and a tiny model trained on a generated text; the model runs and
# quantizes, tokenizes with the trained vocabulary, resumes from its
# checkpoint, and bad configs and flags are refused with messages.
# Usage: test_train_cli.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for i in $(seq 1 300); do
  echo "the quick brown fox $i jumps over the lazy dog. she sells sea shells by the shore."
done >"$T/corpus.txt"

check "'$MB' tokenizer-train '$T/corpus.txt' --vocab 400 -o '$T/tok.gguf' | grep -q '400 tokens'" \
  "tokenizer-train"
check "'$MB' inspect '$T/tok.gguf' | grep -q 'tokenizer.ggml.merges'" "tokenizer has merges"
check "! '$MB' tokenizer-train '$T/corpus.txt' --vocab 100 -o '$T/x.gguf' 2>/dev/null" \
  "vocab below 258 refused"

cat >"$T/m.cfg" <<CFG
tokenizer = $T/tok.gguf   # from tokenizer-train
dim = 32
n_layers = 2
n_heads = 4
n_kv_heads = 2
ffn = 64
ctx = 32
batch = 4
steps = 20
warmup = 4
eval_every = 10
ckpt_every = 10
CFG
if "$MB" train "$T/m.cfg" "$T/corpus.txt" -o "$T/m.gguf" -t 2 >"$T/out" 2>"$T/err"; then
  ok
else
  bad "train failed: $(cat "$T/err")"
fi
check "grep -q 'memory: weights' '$T/err'" "memory line printed"
check "grep -q 'step    20/20 | loss [0-9.]* | val [0-9.]* | lr' '$T/err'" "progress line with val"
check "grep -q 'tok/s | ETA' '$T/err'" "progress line has tok/s and ETA"
check "[ -f '$T/m.gguf.ckpt.gguf' ]" "checkpoint written"
check "'$MB' run '$T/m.gguf' 'the quick' -n 4 --temp 0 >/dev/null 2>&1" "trained model runs"
check "'$MB' tokenize '$T/m.gguf' 'the lazy dog' | grep -q 'lazy'" "trained model tokenizes"
"$MB" train "$T/m.cfg" "$T/corpus.txt" -o "$T/r.gguf" -t 2 --resume "$T/m.gguf.ckpt.gguf" >"$T/rout" 2>&1
check "grep -q 'resumed .* at step 10' '$T/rout'" "resume from checkpoint"
check "cmp -s '$T/m.gguf' '$T/r.gguf'" "resumed run equals the uninterrupted one"
check "'$MB' train '$T/m.cfg' '$T/corpus.txt' -o '$T/h.gguf' -t 1 --f16 -q >/dev/null 2>&1" "--f16"
check "'$MB' inspect '$T/h.gguf' | grep -q 'F16'" "F16 output"
check "'$MB' quantize '$T/h.gguf' '$T/q.gguf' Q8_0 -q >/dev/null 2>&1 || '$MB' quantize '$T/h.gguf' '$T/q.gguf' Q8_0 --allow-fallback -q >/dev/null 2>&1" \
  "F16 output quantizes"

echo "dmi = 3" >"$T/bad.cfg"
check "'$MB' train '$T/bad.cfg' '$T/corpus.txt' -o '$T/b.gguf' 2>&1 | grep -q \"bad.cfg:1: unknown key 'dmi'\"" \
  "unknown key named with file and line"
check "'$MB' train '$T/m.cfg' '$T/corpus.txt' -o '$T/b.gguf' --set n_heads=3 2>&1 | grep -q 'heads'" \
  "bad shape refused"
# About 5 TiB of activations: more than any machine this runs on has.
check "'$MB' train '$T/m.cfg' '$T/corpus.txt' -o '$T/b.gguf' --set batch=4096 --set ctx=2048 --set dim=1024 --set ffn=4096 --set n_heads=16 --set n_kv_heads=16 2>&1 | grep -q 'MiB is available'" \
  "too much memory refused"
check "'$MB' train '$T/m.cfg' '$T/corpus.txt' -o '$T/b.gguf' --set batch=100000000 --set dim=4096 2>&1 | grep -q 'too large'" \
  "absurd shape refused"
check "! '$MB' train '$T/m.cfg' >/dev/null 2>&1" "missing corpus is an error"

finish
