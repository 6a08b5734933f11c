#!/usr/bin/env bash
# One rendering path (issue 24): the guardian's features of a prompt are the
# same through `matchbox agent` (the CLI), /v1/chat/completions and
# /v1/completions of `matchbox serve --oracle`, and so are the shipped
# stories260K router's decisions on the held-out part of
# tests/data/agent_guardian.tsv — where its escalation recall must be >= 0.9
# and its precision >= 0.7. Prompts labelled private, sent marked private,
# never leave the device on any path (the audit log's "sent" stays null).
# The oracle is a closed loopback port: nothing leaves this machine.
# Usage: test_agent_features.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

G=$SHARED/models/stories260K.gguf
SRC=$(cd "$(dirname "$0")/.." && pwd)
SET=$SRC/tests/data/agent_guardian.tsv
ROUTER=$SRC/assets/router-stories260K.json
for need in curl python3; do
  command -v $need >/dev/null || { echo "SKIP: $need is not installed"; exit 77; }
done
[ -f "$G" ] || { echo "SKIP: $G is absent"; exit 77; }
. "$(dirname "$0")/lib/serve.sh"

DEAD=http://127.0.0.1:1/v1 # nothing listens: an escalation fails at once
start guardian "$G" -t 1 --slots 1 --oracle $DEAD --oracle-retries 0 --router "$ROUTER" \
  --audit-log "$T/audit.jsonl" || exit 1

# The held-out keep/escalate prompts, then the private ones (all of them).
awk -F'\t' '$1 != "private" && $2 == "test" {print $1 "\t" $3}' "$SET" >"$T/test.tsv"
awk -F'\t' '$1 == "private" {print $3}' "$SET" >"$T/private.txt"
cut -f2 "$T/test.tsv" >"$T/prompts.txt"
check '[ "$(wc -l <"$T/test.tsv")" -ge 60 ]' "the held-out part has $(wc -l <"$T/test.tsv") prompts"

# The CLI: one prompt a line; its features and decision from stderr.
"$MB" agent "$G" -t 1 --oracle $DEAD --oracle-retries 0 --router "$ROUTER" -n 4 --max-tokens 4 \
  <"$T/prompts.txt" >/dev/null 2>"$T/cli.err"
check '[ "$(grep -c "^agent: features " "$T/cli.err")" = "$(wc -l <"$T/prompts.txt")" ]' \
  "the CLI scored $(grep -c '^agent: features ' "$T/cli.err") prompts: $(tail -3 "$T/cli.err")"

python3 - "$T" "$PORT" <<'PY' >"$T/report.txt" 2>&1
import json, sys, urllib.request
T, port = sys.argv[1], sys.argv[2]
def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=60))
rows = [l.rstrip("\n").split("\t", 1) for l in open(f"{T}/test.tsv")]
cli_f = [l.split(" ", 2)[2].strip() for l in open(f"{T}/cli.err") if l.startswith("agent: features ")]
cli_d = [l.split()[2] == "escalate" for l in open(f"{T}/cli.err") if l.startswith("agent: decision ")]
fails = 0
paths = {"chat": [], "completions": [], "cli": cli_d}
for i, (label, prompt) in enumerate(rows):
    c = post("/v1/chat/completions", {"messages": [{"role": "user", "content": prompt}], "max_tokens": 4, "temperature": 0})
    p = post("/v1/completions", {"prompt": prompt, "max_tokens": 4, "temperature": 0})
    fc, fp = c["matchbox"].get("features"), p["matchbox"].get("features")
    # The same JSON number text through every path.
    sc = json.dumps(fc, separators=(",", ":")); sp = json.dumps(fp, separators=(",", ":"))
    scli = json.dumps(json.loads(cli_f[i]), separators=(",", ":")) if i < len(cli_f) else None
    if not (sc == sp == scli):
        fails += 1
        print(f"FEATURES DIFFER for {prompt!r}:\n chat {sc}\n completions {sp}\n cli {scli}")
    paths["chat"].append(c["matchbox"]["reason"].startswith("low confidence"))
    paths["completions"].append(p["matchbox"]["reason"].startswith("low confidence"))
y = [label == "escalate" for label, _ in rows]
for name, d in paths.items():
    tp = sum(a and b for a, b in zip(d, y)); fp = sum(a and not b for a, b in zip(d, y))
    fn = sum(b and not a for a, b in zip(d, y))
    prec = tp / (tp + fp) if tp + fp else 0; rec = tp / (tp + fn) if tp + fn else 0
    print(f"{name}: held-out escalation precision {prec:.3f} recall {rec:.3f} (tp {tp} fp {fp} fn {fn}, {len(d)} prompts, {sum(d)} escalated)")
    if len(d) != len(y) or rec < 0.9 or prec < 0.7:
        fails += 1
        print(f"FAIL: {name} misses the target")
if not (paths["chat"] == paths["completions"] == paths["cli"]):
    fails += 1
    print("FAIL: the decisions differ between paths")
# Private prompts, marked private, on both endpoints: answered locally.
for prompt in open(f"{T}/private.txt").read().splitlines():
    for path, body in (("/v1/chat/completions", {"messages": [{"role": "user", "content": prompt}]}),
                       ("/v1/completions", {"prompt": prompt})):
        body.update({"max_tokens": 4, "private": True})
        r = post(path, body)
        if r["matchbox"]["answered_by"] != "guardian" or r["matchbox"]["reason"] != "private":
            fails += 1
            print(f"FAIL: private prompt routed {r['matchbox']} on {path}")
print("failures:", fails)
PY
cat "$T/report.txt"
check 'grep -q "^failures: 0$" "$T/report.txt"' "features or decisions differ, or the router misses its target"

# The CLI with --private: nothing of a private prompt is sent (nor attempted).
n0=$(wc -l <"$T/audit.jsonl")
"$MB" agent "$G" -t 1 --oracle $DEAD --oracle-retries 0 --router "$ROUTER" --private -n 4 \
  --audit-log "$T/audit.jsonl" <"$T/private.txt" >/dev/null 2>"$T/priv.err"
check '[ "$(grep -c "answered by guardian (private" "$T/priv.err")" = "$(wc -l <"$T/private.txt")" ]' \
  "CLI --private: $(grep -c 'answered by guardian (private' "$T/priv.err") answered locally"
# Every private request's audit line (server and CLI) says nothing was sent.
python3 - "$T/audit.jsonl" <<'PY' >"$T/audit.txt"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
priv = [l for l in lines if l["reason"] == "private"]
bad = [l for l in priv if l.get("sent") is not None]
print(len(priv), len(bad))
PY
read -r n_priv n_sent <"$T/audit.txt"
check '[ "$n_priv" -ge 150 ] && [ "$n_sent" = 0 ]' "private audit lines $n_priv, with text sent $n_sent"
finish
