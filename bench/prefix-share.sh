#!/usr/bin/env bash
# The shared paged KV cache against per-slot caches (serve --no-kv-share):
# a server of N slots, one request with a long system prompt alone (it
# computes the prefix), then N requests with the same system prompt and
# different questions at once. Prints, per mode: the server's peak RSS
# (VmHWM), the KV bytes it reserved, the mean and worst latency of the N
# concurrent requests (max_tokens 1, so about their time to first token),
# the prompt tokens each found cached, and the KV block gauges.
# docs/PERFORMANCE.md, "Paged KV cache and prefix sharing".
#   bench/prefix-share.sh MODEL [SLOTS] [PREFIX_WORDS] [CTX]
set -u
MB=${MATCHBOX:-$(dirname "$0")/../build/bin/matchbox}
[ $# -ge 1 ] || {
  sed -n '2,10p' "$0"
  exit 2
}
M=$1 SLOTS=${2:-8} WORDS=${3:-400} CTX=${4:-1024}
T=$(mktemp -d)
trap 'kill $PID 2>/dev/null; rm -rf "$T"' EXIT
# The system prompt: WORDS words of a fixed pseudo-text.
python3 -c "
import random; r = random.Random(7)
w = 'the of and to in is that for it as was with be by on not he this are or his from at which but have an they'.split()
print(' '.join(r.choice(w) for _ in range($WORDS)))" >"$T/sys.txt"
run_mode() {
  local mode=$1
  shift
  "$MB" serve "$M" --slots "$SLOTS" -c "$CTX" --port 0 "$@" >"$T/log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    grep -q "http://" "$T/log" && break
    sleep 0.1
  done
  local port
  port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$T/log" | head -1)
  [ -n "$port" ] || {
    cat "$T/log" >&2
    exit 1
  }
  local body
  body() {
    python3 -c "
import json, sys
print(json.dumps({'prompt': open('$T/sys.txt').read() + ' Question $1: what comes next?',
                  'max_tokens': 1, 'temperature': 0}))"
  }
  body 0 | curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary @- \
    "http://127.0.0.1:$port/v1/completions"
  for i in $(seq "$SLOTS"); do
    (body "$i" | curl -s -o "$T/r$i" -w '%{time_total}\n' -H 'Content-Type: application/json' \
      --data-binary @- "http://127.0.0.1:$port/v1/completions" >"$T/t$i") &
  done
  wait $(jobs -p | grep -v "^$PID$") 2>/dev/null
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
  curl -s "http://127.0.0.1:$port/metrics" >"$T/metrics"
  kill $PID
  wait $PID 2>/dev/null
  cat "$T"/t[0-9]* | awk -v mode="$mode" -v hwm="$hwm" '{ s += $1; if ($1 > w) w = $1; n++ }
    END { printf "%-10s peak RSS %.1f MiB; %d concurrent requests: mean %.3f s, worst %.3f s\n",
          mode, hwm / 1024, n, s / n, w }'
  python3 -c "
import json, glob
c = [json.load(open(f))['usage'].get('prompt_tokens_details', {}).get('cached_tokens', 0)
     for f in sorted(glob.glob('$T/r[0-9]*'))]
p = [json.load(open(f))['usage']['prompt_tokens'] for f in sorted(glob.glob('$T/r[0-9]*'))]
print('           prompt tokens %s, cached %s' % (p[0], c))"
  grep -E '^matchbox_kv_(blocks_total|block_bytes|blocks_cached|prefix_tokens_total|block_copies_total) ' \
    "$T/metrics" | sed 's/^/           /'
}
run_mode shared
run_mode per-slot --no-kv-share
