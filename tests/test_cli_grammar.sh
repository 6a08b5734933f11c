#!/usr/bin/env bash
# --grammar-file and --json-schema in run and chat: the text follows the
# grammar (every run that ends by itself is what the grammar accepts, the
# JSON is valid against the schema, checked by python3-jsonschema); a
# grammar that does not compile, a schema keyword that cannot be
# enforced, and both flags at once are refused before anything is generated.
# Usage: test_cli_grammar.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
R=$SHARED/models/llama-2-tiny-random.gguf
[ -f "$M" ] && [ -f "$R" ] || { echo "SKIP: models in $SHARED/models are absent"; exit 77; }
python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

printf '# an answer and a number\nroot ::= answer " " [0-9]{1,3} "."\nanswer ::= "yes" | "no"\n' >"$T/yn.gbnf"
for seed in 1 2 3; do
  "$MB" run -m "$M" -p "Q:" -n 40 --temp 1 -s $seed --grammar-file "$T/yn.gbnf" >"$T/out" 2>"$T/err"
  rc=$?
  check "[ $rc -eq 0 ] && grep -Eqx 'Q:(yes|no) [0-9]{1,3}\\.' '$T/out'" \
    "run --grammar-file seed $seed: $(cat "$T/out")"
done

cat >"$T/schema.json" <<'JSON'
{"type": "object", "additionalProperties": false, "required": ["color", "n"],
 "properties": {"color": {"enum": ["red", "green", "blue"]}, "n": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 2}}}
JSON
ended=0
for seed in 1 2 3 4; do
  "$MB" run -m "$R" -p "x" -n 120 --temp 1 -s $seed --json-schema "$T/schema.json" >"$T/out" 2>"$T/err"
  # The prompt is echoed first: the JSON is what follows it.
  if python3 - "$T/out" "$T/schema.json" <<'PY'
import json, sys, jsonschema
text = open(sys.argv[1], encoding="utf-8").read()
assert text.startswith("x")
jsonschema.validate(json.loads(text[1:]), json.load(open(sys.argv[2])))
PY
  then ended=$((ended + 1)); fi
done
check "[ $ended -ge 2 ]" "run --json-schema: only $ended of 4 answers valid"

# chat: every answer follows the grammar from its start.
printf 'first\nsecond\n' | "$MB" chat -m "$M" -n 40 --temp 1 -s 5 --grammar-file "$T/yn.gbnf" \
  >"$T/chat" 2>"$T/err"
check "[ \$(grep -Eoc '(yes|no) [0-9]{1,3}\\.' '$T/chat') -eq 2 ]" "chat --grammar-file: $(cat "$T/chat")"

printf 'root ::= answer\n' >"$T/bad.gbnf"
"$MB" run -m "$M" -p "Q:" --grammar-file "$T/bad.gbnf" >"$T/out" 2>"$T/err"
rc=$?
check "[ $rc -ne 0 ] && grep -q \"bad.gbnf: grammar line 1 col 10: undefined rule 'answer'\" '$T/err'" \
  "bad grammar: $(cat "$T/err")"
printf '{"type": "string", "pattern": "^a"}' >"$T/bad.json"
"$MB" run -m "$M" -p "Q:" --json-schema "$T/bad.json" >"$T/out" 2>"$T/err"
rc=$?
check "[ $rc -ne 0 ] && grep -q \"unsupported keyword 'pattern'\" '$T/err'" "bad schema: $(cat "$T/err")"
"$MB" run -m "$M" -p "Q:" --json-schema "$T/schema.json" --grammar-file "$T/yn.gbnf" >"$T/out" 2>"$T/err"
rc=$?
check "[ $rc -ne 0 ] && grep -q 'give one of them' '$T/err'" "both flags: $(cat "$T/err")"
finish
