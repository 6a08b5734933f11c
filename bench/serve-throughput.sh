#!/usr/bin/env bash
# Tokens per second of `matchbox serve` under C concurrent clients, with the
# slots' decode steps batched, with slots decoding alone on their own
# threads, and with one slot (requests served one at a time).
# Usage: bench/serve-throughput.sh MATCHBOX MODEL [CLIENTS=4] [REQUESTS=4] [MAX_TOKENS=64] [EXTRA serve flags...]
set -eu
MB=$1 MODEL=$2 CLIENTS=${3:-4} REQUESTS=${4:-4} MAXTOK=${5:-64}
shift $(($# < 5 ? $# : 5))
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

run() { # LABEL SERVE-FLAGS...
  local label=$1
  shift
  "$MB" serve "$MODEL" --port 0 -c 512 "$@" >"$T/log" 2>&1 &
  local pid=$! port=""
  for _ in $(seq 300); do
    port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$T/log")
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
  done
  python3 - "$port" "$CLIENTS" "$REQUESTS" "$MAXTOK" "$label" <<'PY'
import json, sys, threading, time, urllib.request
port, clients, requests, maxtok, label = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
toks = []
def worker(w):
    for i in range(requests):
        body = json.dumps({"prompt": "The", "max_tokens": maxtok, "seed": w * 100 + i}).encode()
        req = urllib.request.Request("http://127.0.0.1:%s/v1/completions" % port, body)
        with urllib.request.urlopen(req, timeout=600) as r:
            toks.append(json.loads(r.read())["usage"]["completion_tokens"])
t0 = time.time()
ts = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
[t.start() for t in ts]
[t.join() for t in ts]
dt = time.time() - t0
print("| %-34s | %6d | %7.2f | %8.1f |" % (label, sum(toks), dt, sum(toks) / dt))
PY
  kill -TERM $pid
  wait $pid
}

echo "$CLIENTS clients x $REQUESTS requests x $MAXTOK tokens, $(basename "$MODEL"), $(nproc) CPUs"
echo "| configuration | tokens | seconds | tokens/s |"
echo "|---|---|---|---|"
run "--slots $CLIENTS (batched decode)" --slots "$CLIENTS" "$@"
run "--slots $CLIENTS --no-batch (threads)" --slots "$CLIENTS" --no-batch "$@"
run "--slots 1 (one at a time)" --slots 1 "$@"
