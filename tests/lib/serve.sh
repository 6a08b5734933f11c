# Sourced by the shell tests that run `matchbox serve` (after common.sh):
# a temporary folder $T, the servers started there stopped on exit, and
# `start NAME ARGS...`, which serves on a free port (--port 0) and sets PORT
# and PID once /health answers (its log in $T/NAME.log).
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

start() {
  local name=$1
  shift
  : >"$T/$name.log"
  "$MB" serve "$@" --port 0 >>"$T/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  PORT=""
  for _ in $(seq 100); do
    PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$T/$name.log" | head -1)
    [ -n "$PORT" ] && curl -sf -m 2 "http://127.0.0.1:$PORT/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "server $name did not start:" >&2
  cat "$T/$name.log" >&2
  return 1
}
