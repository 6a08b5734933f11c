#!/usr/bin/env bash
# `matchbox serve` against hostile and careless clients (issue 19, items
# 5-15), over loopback with curl and raw sockets: Host and Origin checks and
# CORS preflights, the key checked before the body is read, a chunked body
# cut at --max-body, bad or conflicting Content-Length, the Authorization
# scheme's case, a NUL in a message, 405's Allow header, requests dropped
# mid-body in /metrics, the header deadline, a queued client that leaves,
# a half-closed client, and the memory check of all slots.
# Usage: test_server_hardening.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
SLOW=$SHARED/models/llama-125m-Q4_K_M.gguf
for need in curl python3; do
  command -v $need >/dev/null || { echo "SKIP: $need is not installed"; exit 77; }
done
[ -f "$M" ] && [ -f "$SLOW" ] || { echo "SKIP: models in $SHARED/models are absent"; exit 77; }
. "$(dirname "$0")/lib/serve.sh"
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }

# status ARGS...: the HTTP status curl gets (headers in $T/h, body in $T/b).
status() { curl -s -m 10 -D "$T/h" -o "$T/b" -w '%{http_code}' "$@"; }
hdr() { grep -i "^$1:" "$T/h" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# raw SCRIPT: python3 with a socket to the server (PORT in the environment).
raw() { PORT=$PORT timeout 30 python3 -c "$1"; }
PYHEAD='
import os, socket, time
PORT = int(os.environ["PORT"])
def conn():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    return s
def read_all(s, limit=10):
    s.settimeout(limit)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            out += d
    except (socket.timeout, ConnectionResetError):
        pass
    return out
'

CHAT='{"messages":[{"role":"user","content":"Hello"}],"max_tokens":4}'
start main "$M" --api-key K || exit 1
U=http://127.0.0.1:$PORT

# ---- 5: Host and Origin ------------------------------------------------------
check '[ "$(status -H "Authorization: Bearer K" $U/v1/models)" = 200 ]' "a plain request is answered"
check '[ "$(status -H "Host: evil.example:$PORT" -H "Authorization: Bearer K" $U/v1/models)" = 403 ]' \
  "a Host that is not loopback is refused (DNS rebinding)"
check '[ "$(status -H "Host: evil.example" $U/health)" = 403 ]' "a foreign Host is refused on /health too"
for h in "localhost:$PORT" "LocalHost" "127.0.0.1:$PORT" "[::1]:$PORT" "127.1.2.3"; do
  check '[ "$(status -H "Host: $h" -H "Authorization: Bearer K" $U/v1/models)" = 200 ]' \
    "the loopback Host '$h' is accepted"
done
check '[ "$(status -H "Host: localhost.evil.example" $U/health)" = 403 ]' "a name that starts with localhost is no loopback name"
check '[ "$(status -H "Origin: http://evil.example" -H "Authorization: Bearer K" $U/v1/models)" = 403 ]' \
  "a request from a web page's Origin is refused by default"
check 'grep -q forbidden_origin "$T/b"' "the 403 names the Origin"
check '[ "$(status -X OPTIONS -H "Origin: http://evil.example" -H "Access-Control-Request-Method: POST" $U/v1/chat/completions)" = 403 ]' \
  "a preflight from an origin not allowed is refused"
stop

start cors "$M" --allowed-origins 'http://localhost:3000, https://app.example' || exit 1
U=http://127.0.0.1:$PORT
check '[ "$(status -H "Origin: http://localhost:3000" $U/v1/models)" = 200 ]' "an allowed Origin is answered"
check '[ "$(hdr Access-Control-Allow-Origin)" = "http://localhost:3000" ]' "the answer carries Access-Control-Allow-Origin"
check '[ "$(status -H "Origin: https://app.example" -H "Content-Type: application/json" --data-binary "$CHAT" $U/v1/chat/completions)" = 200 ]' \
  "an allowed Origin's completion is answered"
check '[ "$(hdr Access-Control-Allow-Origin)" = "https://app.example" ]' "a completion carries Access-Control-Allow-Origin"
check '[ "$(status -H "Origin: http://localhost:3001" $U/v1/models)" = 403 ]' "another Origin is refused"
check '[ "$(status -X OPTIONS -H "Origin: http://localhost:3000" -H "Access-Control-Request-Method: POST" -H "Access-Control-Request-Headers: authorization, content-type" $U/v1/chat/completions)" = 204 ]' \
  "a preflight from an allowed origin is answered 204"
check '[ "$(hdr Access-Control-Allow-Origin)" = "http://localhost:3000" ] && hdr Access-Control-Allow-Methods | grep -q POST && hdr Access-Control-Allow-Headers | grep -qi authorization' \
  "the preflight's answer allows the origin, POST and the headers asked for"
check '[ "$(status -H "Origin: http://localhost:3000" -H "Content-Type: application/json" --data-binary "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":2}" $U/v1/chat/completions)" = 200 ] && [ "$(hdr Access-Control-Allow-Origin)" = "http://localhost:3000" ]' \
  "a stream carries Access-Control-Allow-Origin"
stop

start key "$M" --api-key K --max-body 65536 || exit 1
U=http://127.0.0.1:$PORT

# ---- 9: the key before the body ----------------------------------------------
out=$(raw "$PYHEAD"'
s = conn()
s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n")
t = time.time()
r = read_all(s, 3)
print(r.split(b"\r\n")[0].decode(), round(time.time() - t, 1))
')
check '[[ "$out" == "HTTP/1.1 401"* ]]' "a keyless request is refused before its body is sent (got: $out)"

# ---- 11: the scheme's case ----------------------------------------------------
for a in "bearer K" "BEARER K" "Bearer  K"; do
  check '[ "$(status -H "Authorization: $a" $U/v1/models)" = 200 ]' "Authorization: '$a' is accepted"
done
check '[ "$(status -H "Authorization: bearer k" $U/v1/models)" = 401 ]' "the key itself is case-sensitive"
check '[ "$(status -H "Authorization: Basic K" $U/v1/models)" = 401 ]' "another scheme is refused"

# ---- 7: a chunked body over --max-body ---------------------------------------
out=$(raw "$PYHEAD"'
s = conn()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer K\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
sent = 0
s.settimeout(2)
try:
    while sent < 64 << 20:
        s.sendall(chunk)
        sent += 65536
except (socket.timeout, BrokenPipeError, ConnectionResetError):
    pass
r = read_all(s, 2)
print(sent >> 20, r.split(b"\r\n")[0].decode())
')
mib=${out%% *}
check '[ "${mib:-99}" -lt 16 ]' "a chunked body over --max-body is not read to its end (sent MiB, answer: $out)"

# ---- 10: Content-Length --------------------------------------------------------
out=$(raw "$PYHEAD"'
s = conn()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer K\r\nContent-Length: 14\r\nContent-Length: 4\r\n\r\n{\"prompt\":\"a\"}")
print(read_all(s, 3).split(b"\r\n")[0].decode())
')
check '[[ "$out" == "HTTP/1.1 400"* ]]' "two different Content-Length headers are refused (got: $out)"
for cl in abc -1 "1 2" " 12x" 99999999999999999999999; do
  out=$(CL=$cl raw "$PYHEAD"'
s = conn()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer K\r\nContent-Length: " + os.environ["CL"].encode() + b"\r\n\r\n{}")
r = read_all(s, 3)
print(r.count(b"HTTP/1."), r.split(b"\r\n")[0].decode(), b"bad_content_length" in r)
')
  # The server screens a connection's first headers itself (accept.c):
  # libmicrohttpd 0.9.75's own answer wrote its status line twice.
  check '[ "$out" = "1 HTTP/1.1 400 Bad Request True" ]' \
    "Content-Length '$cl': one 400 answer, the server's JSON error (got: $out)"
done
out=$(raw "$PYHEAD"'
s = conn()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer K\r\nContent-Length: 29\r\ncontent-length: 29\r\nConnection: close\r\n\r\n{\"prompt\":\"a\",\"max_tokens\":1}")
print(read_all(s, 3).split(b"\r\n")[0].decode())
')
check '[[ "$out" == "HTTP/1.1 200"* ]]' \
  "two equal Content-Length headers pass the screen (got: $out)"

# ---- 13: a NUL in a message ---------------------------------------------------
check '[ "$(status -H "Authorization: Bearer K" -H "Content-Type: application/json" --data-binary "{\"messages\":[{\"role\":\"user\",\"content\":\"Once upon\\u0000 a time there was\"}],\"max_tokens\":2}" $U/v1/chat/completions)" = 400 ]' \
  "a NUL in a message is refused"
check 'grep -q NUL "$T/b"' "the refusal names the NUL"

# ---- 14: 405's Allow; a request dropped mid-body ------------------------------
check '[ "$(status -X DELETE -H "Authorization: Bearer K" $U/v1/models)" = 405 ] && hdr Allow | grep -q GET' \
  "405 carries Allow (GET)"
check '[ "$(status -H "Authorization: Bearer K" $U/v1/completions)" = 405 ] && hdr Allow | grep -q POST' \
  "405 carries Allow (POST)"
raw "$PYHEAD"'
s = conn()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer K\r\nContent-Length: 1000\r\n\r\n{\"prompt\":")
time.sleep(0.3)
s.close()
'
sleep 0.5
curl -s -m 5 -H "Authorization: Bearer K" "$U/metrics" >"$T/metrics"
check '! grep -q "status=\"0\"" "$T/metrics"' "no request is counted with status 0"
check 'grep -q "completions\",status=\"499\"" "$T/metrics"' "a request dropped mid-body is counted as 499"
stop

# ---- 12: the header deadline ----------------------------------------------------
start deadline "$M" --header-timeout 2 || exit 1
out=$(raw "$PYHEAD"'
s = conn()
t = time.time()
req = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
closed = False
for b in req:
    try:
        s.sendall(bytes([b]))
        s.settimeout(0.5)
        if s.recv(1) == b"":
            closed = True
            break
    except socket.timeout:
        pass
    except (BrokenPipeError, ConnectionResetError):
        closed = True
        break
    if time.time() - t > 8: break
print(int(closed), round(time.time() - t))
')
check '[[ "$out" == "1 "[1-4] ]]' "a client trickling its headers is cut at the deadline (got: $out)"
check '[ "$(status http://127.0.0.1:$PORT/health)" = 200 ]' "a prompt client is still answered"
stop

# ---- 6: a half-closed client ----------------------------------------------------
# The slow model, so the generation is still running when the server
# notices the end of the client's input.
start half "$SLOW" --slots 1 -c 256 || exit 1
out=$(raw "$PYHEAD"'
import json
s = conn()
body = b"{\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"temperature\":0}"
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
s.shutdown(socket.SHUT_WR)
r = read_all(s, 25)
head, _, rest = r.rpartition(b"\r\n\r\n")
last = [l for l in r.split(b"\r\n") if l.startswith(b"HTTP/1.1 ")][-1].decode()
try:
    print(last.split()[1], json.loads(rest)["choices"][0]["finish_reason"])
except Exception as e:
    print(last, "unparsed", rest[:200])
')
check '[ "$out" = "200 length" ] || [ "$out" = "200 stop" ]' "a half-closed client gets its whole answer (got: $out)"
out=$(raw "$PYHEAD"'
s = conn()
body = b"{\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"stream\":true}"
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
s.shutdown(socket.SHUT_WR)
r = read_all(s, 25)
print(int(b"\"finish_reason\":\"length\"" in r and b"data: [DONE]" in r and b"abort" not in r))
')
check '[ "$out" = 1 ]' "a half-closed client gets its whole stream"
check '[ "$(status http://127.0.0.1:$PORT/health)" = 200 ]' "the server still answers"
stop

# ---- 8: a client that leaves while queued --------------------------------------
start queue "$SLOW" --slots 1 --queue 1 -c 4096 || exit 1
U=http://127.0.0.1:$PORT
# Greedy, and long (about 13 s alone on a 2-core VM): sampled, the model
# may end it early (EOS) and free the slot before the checks below.
BIG='{"prompt":"Once","max_tokens":4000,"stream":true,"temperature":0}'
curl -s -m 20 -N -o /dev/null -H 'Content-Type: application/json' --data-binary "$BIG" "$U/v1/completions" &
hold=$!
sleep 1
# The queued one leaves (non-streaming, then streaming).
for st in false true; do
  curl -s -m 1.5 -o /dev/null -H 'Content-Type: application/json' \
    --data-binary "{\"prompt\":\"Once\",\"max_tokens\":3,\"stream\":$st}" "$U/v1/completions"
  sleep 1.5
  q=$(curl -s -m 5 "$U/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queued"])')
  check '[ "$q" = 0 ]' "a client that left the queue (stream $st) loses its place (queued: $q)"
done
# (A stream's headers wait for a slot, so "queued" is read from /health.)
curl -s -m 6 -o "$T/q.out" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary '{"prompt":"Once","max_tokens":3,"stream":true}' "$U/v1/completions" >"$T/q.code" &
qp=$!
for _ in $(seq 25); do
  sleep 0.2
  q=$(curl -s -m 5 "$U/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queued"])')
  [ "$q" = 1 ] && break
done
check '[ "$q" = 1 ]' "the next request is queued, not refused with 503 (queued: $q)"
wait $qp 2>/dev/null
check '! grep -q 503 "$T/q.code"' "the queued stream was not refused (got $(cat "$T/q.code"))"
kill $hold 2>/dev/null
wait $hold 2>/dev/null
stop

# ---- 8b: the shared KV cache: a queue timeout, a request larger than it --------
# llama-125m's blocks take 768 KiB (12 layers x 64 positions x 1 KiB): 13M
# holds 17 blocks, 1088 positions. A long generation is promised 16 of
# them; the next request, with a slot free but not the 2 blocks it needs,
# waits past --queue-timeout and gets 503 with Retry-After, streamed or
# not, without ever opening a 200 stream. A request that could never fit
# the budget (within the context) is refused at once with 400. /metrics
# shows the cache's blocks.
start qto "$SLOW" --slots 2 --queue 4 --queue-timeout 1 -c 2048 --kv-budget 13M || exit 1
U=http://127.0.0.1:$PORT
curl -s -m 30 -N -o /dev/null -H 'Content-Type: application/json' \
  --data-binary '{"prompt":"Once","max_tokens":1000,"stream":true}' "$U/v1/completions" &
hold=$!
# Not a fixed sleep: the two requests go once the long one holds its
# blocks, together, so that both time out (1 s) while it still generates
# (1000 tokens: 2 s and more on the machines this runs on).
for _ in $(seq 150); do
  curl -s -m 5 "$U/metrics" | grep -q '^matchbox_slots_busy [1-9]' && break
  sleep 0.2
done
for st in false true; do
  curl -s -m 10 -D "$T/h.$st" -o "$T/b.$st" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "{\"prompt\":\"Once\",\"max_tokens\":100,\"stream\":$st}" \
    "$U/v1/completions" >"$T/c.$st" &
done
wait %2 %3 2>/dev/null
for st in false true; do
  c=$(cat "$T/c.$st")
  ra=$(grep -i '^Retry-After:' "$T/h.$st" | head -1 | cut -d' ' -f2- | tr -d '\r')
  check '[ "$c" = 503 ] && [ "$ra" = 1 ] && grep -q "queue" "$T/b.$st"' \
    "a request that waits past --queue-timeout (stream $st) gets 503 with Retry-After (got $c: $(head -c 200 "$T/b.$st"))"
done
kill $hold 2>/dev/null
wait $hold 2>/dev/null
c=$(status -H 'Content-Type: application/json' \
  --data-binary '{"prompt":"Once","max_tokens":1500}' "$U/v1/completions")
check '[ "$c" = 400 ] && grep -q kv_budget_exceeded "$T/b"' \
  "a request larger than the whole KV budget gets 400 (got $c: $(head -c 300 "$T/b"))"
c=$(status "$U/metrics")
check '[ "$c" = 200 ] && grep -q "^matchbox_kv_blocks_total " "$T/b" && grep -q "^matchbox_kv_blocks_shared " "$T/b"' \
  "/metrics reports the shared KV cache's blocks"
stop

# ---- 15: the memory check counts every slot -----------------------------------
# stories260K's KV cache takes at least 640 bytes a position: one slot of N
# positions fits in 40% of the memory available, four do not.
avail=$(($(awk '/MemAvailable/ {print $2}' /proc/meminfo) * 1024))
n=$((avail * 4 / 10 / 640))
[ "$n" -gt 16777216 ] && n=16777216
if [ $((n * 640 * 4)) -gt "$avail" ]; then
  timeout 20 "$MB" serve "$M" --slots 4 -c "$n" --port 0 >"$T/mem.log" 2>&1 &
  mp=$!
  for _ in $(seq 50); do
    kill -0 $mp 2>/dev/null || break
    grep -q "http://" "$T/mem.log" && break
    sleep 0.2
  done
  kill $mp 2>/dev/null
  wait $mp 2>/dev/null
  check 'grep -q "slots" "$T/mem.log" && ! grep -q "http://" "$T/mem.log"' \
    "--slots 4 -c $n, whose 4 caches do not fit, is refused before starting: $(head -c 300 "$T/mem.log")"
else
  echo "note: the memory check is not testable here (the largest context fits 4 times)"
fi

finish
