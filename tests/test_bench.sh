#!/usr/bin/env bash
# End-to-end test of `matchbox bench` on stories260K with tiny sizes: the JSON
# parses, its fields are consistent with each other and with the flags, the
# table has its rows, and bad flags are errors. Usage: test_bench.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
if [ ! -f "$M" ]; then
  echo "SKIP: $M is absent"
  exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

check "'$MB' bench --help | grep -q -- '--json'" "bench --help"

# JSON: every field present and sane. 16 MiB keeps the bandwidth test quick
# (its figure is then partly cache, which this test does not judge).
for mode in --mmap --no-mmap; do
  if "$MB" bench "$M" -t 2 -p 16 -n 8 -r 3 --bw-mib 16 --json $mode >"$T/b.json" 2>"$T/err"; then
    ok
  else
    bad "bench $mode failed: $(cat "$T/err")"
    continue
  fi
  want=$([ "$mode" = --mmap ] && echo mmap || echo anonymous)
  check "python3 - '$T/b.json' '$want' <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def stat_ok(s):
    return 0 < s['min'] <= s['median'] <= s['max']
errs = []
if r['weights'] != sys.argv[2]: errs.append('weights %s' % r['weights'])
if r['kernels'] not in ('ref', 'avx2', 'avx512', 'avx512-vnni', 'avx512-bf16', 'neon', 'neon-dotprod'): errs.append('kernels')
if r['threads'] != 2 or r['n_prompt'] != 16 or r['n_gen'] != 8 or r['reps'] != 3: errs.append('echo of flags')
for k in ('prefill_tok_s', 'decode_tok_s', 'ttft_s'):
    if not stat_ok(r[k]): errs.append(k)
# TTFT covers the prefill of 16 tokens: at least 16 / the fastest prefill.
if r['ttft_s']['min'] < 16 / r['prefill_tok_s']['max'] * 0.999: errs.append('ttft < prefill time')
if not (0 < r['bytes_per_token'] < r['weight_bytes']): errs.append('bytes_per_token')
if r['peak_rss_bytes'] < r['weight_bytes'] / 2: errs.append('peak rss')
if not (r['load_s'] > 0 and r['read_gb_s'] > 0): errs.append('load/bandwidth')
share = r['bytes_per_token'] * r['decode_tok_s']['median'] / (r['read_gb_s'] * 1e9)
if abs(share - r['decode_share']) > 1e-3 * share: errs.append('decode_share')
if errs: print(errs); sys.exit(1)
PY" "bench $mode JSON fields: $(cat "$T/b.json")"
done

# The table: a pp row, a tg row and the setup line naming kernels and threads.
"$MB" bench "$M" -t 1 -p 8 -n 4 -r 1 --bw-mib 0 >"$T/table" 2>&1
check "grep -q '^| pp8 |' '$T/table' && grep -q '^| tg4 |' '$T/table'" "table rows: $(cat "$T/table")"
check "grep -q 'kernels .*, 1 threads' '$T/table'" "table setup line"

# Skipping tests: -p 0 leaves no pp row; the JSON still parses.
"$MB" bench "$M" -t 1 -p 0 -n 4 -r 1 --bw-mib 0 --json >"$T/np.json" 2>/dev/null
check "python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(r[\"prefill_tok_s\"][\"median\"] != 0 or r[\"decode_tok_s\"][\"median\"] <= 0)' '$T/np.json'" "-p 0"

# Bad input is an error with a message, not a crash.
check "! '$MB' bench '$M' -r 0 2>'$T/err' && grep -q 'error:' '$T/err'" "-r 0 refused"
check "! '$MB' bench '$M' --bogus 2>'$T/err' && grep -q 'unknown option' '$T/err'" "unknown flag"
check "! '$MB' bench '$T/missing.gguf' 2>'$T/err' && grep -q 'missing.gguf' '$T/err'" "missing file"

finish
