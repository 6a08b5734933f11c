#!/usr/bin/env bash
# matchbox fit end to end: its predicted peak memory against the peak RSS
# (VmHWM, which run prints) of a real run that fills the context, within 10%, on
# models the test makes (the project model quantized) and on ../shared's
# models and synthetic presets when present; the plan's parts add up and
# follow the flags (KV types, budget, slots, --ram); run and serve refuse a
# configuration that does not fit with the plan's numbers and a suggestion;
# bad input is an error. Usage: test_fit.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
P5M=$ROOT/assets/mbx-5m-f16.gguf

check "'$MB' fit --help | grep -q -- '--kv-type'" "fit --help"

# ---- the models ------------------------------------------------------------
models=("$P5M")
for ty in Q8_0 Q4_K_M; do
  if "$MB" quantize "$P5M" "$T/5m-$ty.gguf" $ty -q >/dev/null 2>"$T/err"; then
    models+=("$T/5m-$ty.gguf")
  else
    bad "quantize $ty: $(cat "$T/err")"
  fi
done
M=$SHARED/models
if [ -d "$M" ]; then
  for f in stories260K.gguf llama-2-tiny-random.gguf llama-125m-Q4_K_M.gguf; do
    [ -f "$M/$f" ] && models+=("$M/$f")
  done
  if [ -f "$M/stories260K.bin" ] && [ -f "$M/tok512.bin" ] &&
    "$MB" convert "$M/stories260K.bin" "$T/conv.gguf" --tokenizer "$M/tok512.bin" >/dev/null 2>&1; then
    models+=("$T/conv.gguf")
  fi
  SYNTH=$SHARED/tools/synth_gguf.py
  if [ -f "$SYNTH" ]; then
    for p in moe-tiny gemma3-tiny qwen2-tiny; do
      python3 "$SYNTH" $p "$T/$p.gguf" >/dev/null 2>&1 && models+=("$T/$p.gguf")
    done
  fi
else
  echo "note: $M is absent: only the project model and its quantizations are measured"
fi

# ---- prediction against measurement ------------------------------------------
# Each configuration: a prompt that fills the context (every KV position and,
# as the context is below 512, every row of the prefill chunk is touched),
# then 8 tokens; the peak RSS of that process against fit's total.
cat >"$T/measure.py" <<'PY'
import json, os, re, subprocess, sys
mb, model, ctx, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
extra = sys.argv[5:]
fit = subprocess.run([mb, 'fit', model, '-c', str(ctx), '--bandwidth', '0', '--json'] + extra,
                     capture_output=True, text=True)
if fit.returncode != 0:
    print('fit failed:', fit.stderr); sys.exit(1)
r = json.loads(fit.stdout)
parts = r['weights'] + r['ring'] + r['vocab'] + r['runtime'] + r['batch'] + r['n_slots'] * r['per_slot']
if parts != r['total']:
    print('parts', parts, '!= total', r['total']); sys.exit(1)
# The prompt: as many words as leave 8 positions free.
words, prompt = ctx, os.path.join(tmp, 'prompt.txt')
while True:
    open(prompt, 'w').write(' '.join(['the'] * words))
    ids = subprocess.run([mb, 'tokenize', model, '-f', prompt, '--ids'], capture_output=True,
                         text=True).stdout.split()
    if len(ids) <= ctx - 8 or words <= 1: break
    words -= max(1, len(ids) - (ctx - 8))
# run prints its own VmHWM at the end: the peak of the process itself (a
# child's ru_maxrss would also count the forked Python before the exec).
run = subprocess.run([mb, 'run', model, '-f', prompt, '-c', str(ctx), '-n', '8',
                      '--no-display-prompt'] + extra, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)
m = re.search(r'peak memory: ([0-9.]+) MiB \(VmHWM\)', run.stderr)
if run.returncode != 0 or not m:
    print('run failed:', run.stderr[-400:]); sys.exit(1)
peak = float(m.group(1)) * 2**20
dev = (r['total'] - peak) / peak
print('%-28s -c %-5d %-10s predicted %8.1f MiB, measured %8.1f MiB, %+5.1f%%' % (
    os.path.basename(model), ctx, ' '.join(extra), r['total'] / 2**20, peak / 2**20, 100 * dev))
sys.exit(0 if abs(dev) <= 0.10 else 1)
PY
# Two configurations on the models made here, one on the others (time).
for m in "${models[@]}"; do
  cfgs=("256 -t 2")
  case $m in "$P5M" | "$T"/5m-*) cfgs+=("64 -t 1") ;; esac
  for cfg in "${cfgs[@]}"; do
    ctx=${cfg%% *}
    check "python3 '$T/measure.py' '$MB' '$m' $ctx '$T' ${cfg#* }" "fit vs peak RSS beyond 10%: $m -c $cfg"
  done
done
# Mapped weights count as the pages decode reads.
check "python3 '$T/measure.py' '$MB' '$P5M' 256 '$T' -t 2 --mmap" "fit vs peak RSS, --mmap"

# ---- the plan follows the flags ---------------------------------------------------
fitj() { "$MB" fit "$P5M" --bandwidth 0 --json "$@"; }
fitj -c 256 >"$T/f16.json" && fitj -c 256 --kv-type q8_0 >"$T/q8.json" &&
  fitj -c 256 -ctk q4_0 -ctv q8_0 >"$T/q4.json" && fitj -c 256 --slots 3 >"$T/s3.json" &&
  fitj -c 256 --mem-budget 4M >"$T/st.json" && fitj -c 256 --ram 1M >"$T/tiny.json" &&
  fitj -c 256 --bandwidth 10 >"$T/bw.json"
check "[ \$? -eq 0 ]" "fit --json with flags"
check "python3 - '$T' <<'PY'
import json, sys
d = sys.argv[1]
f16, q8, q4, s3, st, tiny, bw = (json.load(open(d + '/' + n + '.json'))
                                for n in ('f16', 'q8', 'q4', 's3', 'st', 'tiny', 'bw'))
errs = []
# Q8_0 is 34 bytes per 32 values, Q4_0 18, F16 64.
if q8['kv'] * 64 != f16['kv'] * 34: errs.append('q8_0 kv %d vs f16 %d' % (q8['kv'], f16['kv']))
if q4['kv'] * 128 != f16['kv'] * (18 + 34): errs.append('q4_0/q8_0 kv')
if q8['kv_type_k'] != 'q8_0' or q4['kv_type_k'] != 'q4_0' or q4['kv_type_v'] != 'q8_0': errs.append('kv names')
if s3['n_slots'] != 3 or s3['batch'] <= 0: errs.append('slots')
if s3['total'] - f16['total'] < 2 * f16['kv']: errs.append('3 slots hold 3 caches')
if st['weights_mode'] != 'streamed' or st['weights'] < 4 << 20 or st['ring'] <= 0: errs.append('streamed')
if st['stream_per_token'] <= 0: errs.append('streamed bytes per token')
if tiny['fits'] or tiny['ram'] != 1 << 20 or 'does not fit' not in tiny['verdict']: errs.append('--ram 1M fits?')
if not f16['fits'] or 'runs resident' not in f16['verdict']: errs.append('f16 verdict')
if not (bw['tok_s'] > bw['tok_s_full'] > 0): errs.append('speed')
if abs(bw['tok_s'] - 10e9 / bw['read_per_token']) > 1e-3 * bw['tok_s']: errs.append('speed = bandwidth / bytes')
if f16['max_ctx'] < 256: errs.append('max_ctx')
if errs: print(errs); sys.exit(1)
PY" "fit's plan and flags"

# Just too small for the KV cache at 4096: it suggests a context that fits,
# and the plan at that context does fit.
need=$(python3 -c "import json; print(json.load(open('$T/f16.json'))['total'])")
"$MB" fit "$P5M" -c 4096 --ram $((need + 65536)) --bandwidth 0 >"$T/small.txt" 2>&1
check "grep -q 'does not fit' '$T/small.txt' && grep -Eq 'try -c [0-9]+' '$T/small.txt'" \
  "fit suggests a context: $(cat "$T/small.txt")"
# The suggestion is checked against the plan at that context with the first
# fit's own resident size: each fit measures the program's size anew, and it
# varies by up to ~600 KiB between runs (more under ASan), more than the
# margin this test leaves.
"$MB" fit "$P5M" -c 4096 --ram $((need + 65536)) --bandwidth 0 --json >"$T/small.json" 2>&1
c=$(grep -Eo 'try -c [0-9]+' "$T/small.json" | grep -Eo '[0-9]+$')
"$MB" fit "$P5M" -c ${c:-1} --ram $((need + 65536)) --bandwidth 0 --json >"$T/at.json" 2>&1
check "[ ${c:-0} -ge 256 ] && python3 - '$T' <<'PY'
import json, sys
d = sys.argv[1]
small, at = json.load(open(d + '/small.json')), json.load(open(d + '/at.json'))
total = at['total'] - at['runtime'] + small['runtime']
if small['fits'] or total > small['ram']:
    print('suggested context needs', total, 'of', small['ram']); sys.exit(1)
PY" "the suggested -c ${c:-?} fits"

# ---- run and serve refuse with the plan ------------------------------------------
"$MB" run "$P5M" -c 16777216 -n 1 -p hi >/dev/null 2>"$T/run.err"
rc=$?
check "[ $rc -ne 0 ] && grep -q 'does not fit: needs' '$T/run.err' && grep -q 'KV' '$T/run.err' && grep -Eq 'try -c [0-9]+' '$T/run.err'" \
  "run refuses an impossible context: $(cat "$T/run.err")"
"$MB" serve "$P5M" --slots 4 -c 16777216 --port 0 >/dev/null 2>"$T/serve.err"
check "grep -q '4 slots of 16777216 positions does not fit' '$T/serve.err' && grep -q 'try' '$T/serve.err'" \
  "serve refuses: $(cat "$T/serve.err")"

# ---- bad input -------------------------------------------------------------------
head -c 100 "$P5M" >"$T/trunc.gguf"
check "! '$MB' fit '$T/trunc.gguf' 2>'$T/e' && grep -q 'trunc.gguf' '$T/e'" "truncated file"
check "! '$MB' fit '$T/nope.gguf' 2>/dev/null" "missing file"
check "! '$MB' fit '$P5M' --kv-type q5_1 2>'$T/e' && grep -q 'KV cache type' '$T/e'" "bad --kv-type"
check "! '$MB' fit '$P5M' --ram 12X 2>'$T/e' && grep -q 'expects a size' '$T/e'" "bad --ram"
check "! '$MB' fit '$P5M' --slots 0 2>/dev/null" "--slots 0"
check "! '$MB' fit 2>/dev/null" "no model"
if [ -f "$M/stories260K.bin" ]; then
  check "! '$MB' fit '$M/stories260K.bin' 2>'$T/e' && grep -q 'matchbox convert' '$T/e'" \
    "a llama2.c checkpoint: $(cat "$T/e")"
fi
if [ -f "$M/ggml-vocab-llama-spm.gguf" ]; then
  check "! '$MB' fit '$M/ggml-vocab-llama-spm.gguf' 2>/dev/null" "a vocab-only file"
fi

finish
