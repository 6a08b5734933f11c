#!/usr/bin/env bash
# End-to-end test of LoRA on the command line: a tiny model trained on one
# text, `finetune` on another (held-out loss reported before and after),
# `run --lora` with the adapter (greedy output equal to the merged model's),
# `lora-merge`, and the refusals (no --lora, wrong base).
# Usage: test_lora_cli.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for i in $(seq 1 300); do
  echo "the quick brown fox jumps over the lazy dog. she sells sea shells by the shore."
done >"$T/corpus.txt"
for i in $(seq 1 200); do
  echo "the lazy fox sells the brown shore. she jumps over sea dog shells."
done >"$T/domain.txt"

"$MB" tokenizer-train "$T/corpus.txt" --vocab 300 -o "$T/tok.gguf" >/dev/null 2>&1
cat >"$T/m.cfg" <<CFG
tokenizer = $T/tok.gguf
dim = 32
n_layers = 2
n_heads = 4
n_kv_heads = 2
ffn = 64
ctx = 32
batch = 4
steps = 30
warmup = 4
eval_every = 0
CFG
check "'$MB' train '$T/m.cfg' '$T/corpus.txt' -o '$T/m.gguf' -t 2 -q >/dev/null 2>&1" "base trains"

"$MB" finetune "$T/m.gguf" "$T/domain.txt" --lora 4 --alpha 8 --steps 40 --lr 5e-3 --ctx 32 \
  --batch 4 --eval-every 20 -t 2 -o "$T/ad.gguf" >"$T/out" 2>"$T/err"
check "[ -f '$T/ad.gguf' ]" "finetune writes the adapter: $(tail -2 "$T/err")"
check "grep -q 'held-out loss before: [0-9.]*' '$T/err' && grep -q 'held-out loss after: ' '$T/err'" \
  "before/after loss printed"
check "grep -q 'step    20/40 | loss [0-9.]* | val [0-9.]* | lr' '$T/err'" "progress line with val"
before=$(sed -n 's/.*held-out loss before: \([0-9.]*\).*/\1/p' "$T/err")
after=$(sed -n 's/.*held-out loss after: \([0-9.]*\).*/\1/p' "$T/err")
check "awk -v b='$before' -v a='$after' 'BEGIN { exit !(a < b) }'" "held-out loss drops ($before -> $after)"
check "'$MB' inspect '$T/ad.gguf' | grep -q 'adapter.lora.alpha'" "adapter has alpha"
check "'$MB' inspect '$T/ad.gguf' | grep -q 'blk.0.attn_q.weight.lora_a'" "adapter tensor names"

"$MB" run "$T/m.gguf" "the lazy" -n 12 --temp 0 --no-display-prompt --lora "$T/ad.gguf" \
  >"$T/run_lora" 2>/dev/null
check "[ -s '$T/run_lora' ]" "run --lora generates"
"$MB" run "$T/m.gguf" "the lazy" -n 12 --temp 0 --no-display-prompt --lora "$T/ad.gguf" \
  --lora-scale 0 >"$T/run_s0" 2>/dev/null
"$MB" run "$T/m.gguf" "the lazy" -n 12 --temp 0 --no-display-prompt >"$T/run_base" 2>/dev/null
check "cmp -s '$T/run_s0' '$T/run_base'" "--lora-scale 0 equals the base"
ppl_base=$("$MB" perplexity "$T/m.gguf" "$T/domain.txt" -c 32 --chunks 4 2>/dev/null | sed -n 's/.*PPL = \([0-9.]*\).*/\1/p')
ppl_lora=$("$MB" perplexity "$T/m.gguf" "$T/domain.txt" -c 32 --chunks 4 --lora "$T/ad.gguf" 2>/dev/null | sed -n 's/.*PPL = \([0-9.]*\).*/\1/p')
check "awk -v b='$ppl_base' -v a='$ppl_lora' 'BEGIN { exit !(a + 0 > 0 && a < b) }'" \
  "perplexity --lora is lower on the domain ($ppl_base -> $ppl_lora)"
check "'$MB' lora-merge '$T/m.gguf' '$T/ad.gguf' -o '$T/merged.gguf' | grep -q '14 matrices merged'" \
  "lora-merge"
"$MB" run "$T/merged.gguf" "the lazy" -n 12 --temp 0 --no-display-prompt >"$T/run_merged" 2>/dev/null
check "cmp -s '$T/run_lora' '$T/run_merged'" "run --lora equals the merged model (greedy)"

check "! '$MB' finetune '$T/m.gguf' '$T/domain.txt' -o '$T/x.gguf' >/dev/null 2>&1" "--lora required"
check "'$MB' finetune '$T/m.gguf' '$T/domain.txt' --lora 2 --targets q,z -o '$T/x.gguf' 2>&1 | grep -q \"target 'z' unknown\"" \
  "unknown target refused"
check "'$MB' run '$T/m.gguf' hi -n 1 --lora '$T/m.gguf' 2>&1 | grep -q 'not a LoRA adapter'" \
  "model file as adapter refused"
check "echo hi | '$MB' chat '$T/m.gguf' -n 1 --lora '$T/m.gguf' 2>&1 | grep -q 'not a LoRA adapter'" \
  "chat --lora reads the adapter"

finish
