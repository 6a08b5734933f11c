#!/usr/bin/env bash
# Structured output through `matchbox serve`: response_format json_schema
# (nested objects, enums, arrays with min/max items, $ref, anyOf, formats),
# json_object, llama.cpp's json_schema and grammar fields, chat and
# completions, plain and streamed, with random sampling on a model with
# random weights and the full 32k Llama 2 vocabulary (any token is likely,
# so the grammar does all the work). Every answer that finishes with "stop"
# is validated against its schema (python3-jsonschema); unsupported
# keywords and bad grammars are 400s naming the problem.
# Usage: test_server_grammar.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/llama-2-tiny-random.gguf
for need in curl python3; do
  command -v $need >/dev/null || { echo "SKIP: $need is not installed"; exit 77; }
done
python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
[ -f "$M" ] || { echo "SKIP: $M is absent"; exit 77; }
. "$(dirname "$0")/lib/serve.sh"

if ! start main "$M" --slots 2; then
  echo "0 passed, 1 failed"
  exit 1
fi

python3 - "$PORT" <<'PY'
import json, sys, urllib.request, urllib.error
import jsonschema

port = sys.argv[1]
passed = failed = 0

def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what, file=sys.stderr)

def post(path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

def valid(schema, text):
    """None when TEXT is JSON valid against SCHEMA, else why not."""
    try:
        jsonschema.validate(json.loads(text), schema,
                            format_checker=jsonschema.FormatChecker())
        return None
    except Exception as e:  # not JSON, or not valid
        return str(e).split("\n")[0]

def chat(extra, seed, stream=False, max_tokens=160):
    body = {"messages": [{"role": "user", "content": "Answer in JSON."}], "temperature": 1.0,
            "seed": seed, "max_tokens": max_tokens, "stream": stream}
    body.update(extra)
    status, text = post("/v1/chat/completions", body)
    if status != 200:
        return status, None, text
    if not stream:
        d = json.loads(text)
        return status, d["choices"][0]["finish_reason"], d["choices"][0]["message"]["content"]
    content, finish = "", None
    for line in text.split("\n"):
        if line.startswith("data: ") and line != "data: [DONE]":
            ch = json.loads(line[6:])["choices"][0]
            content += ch["delta"].get("content") or ""
            finish = ch["finish_reason"] or finish
    return status, finish, content

DEFS = {"$defs": {"node": {"type": "object", "properties": {
    "v": {"type": "integer"},
    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
    "required": ["v"], "additionalProperties": False}}}
SCHEMAS = {
    "nested": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 12},
        "color": {"enum": ["red", "green", "blue"]},
        "size": {"type": "object", "properties": {"w": {"type": "integer", "minimum": 0},
                                                  "h": {"type": "number"}},
                 "required": ["w", "h"], "additionalProperties": False},
        "ok": {"type": "boolean"}},
        "required": ["color", "size"], "additionalProperties": False},
    "array": {"type": "object", "properties": {"tags": {
        "type": "array", "items": {"enum": ["a", "b", "c", 1, None]},
        "minItems": 2, "maxItems": 4}}, "required": ["tags"], "additionalProperties": False},
    "ref": dict(DEFS, **{"$ref": "#/$defs/node"}),
    "anyof": {"type": "object", "properties": {"x": {"anyOf": [
        {"type": "integer"}, {"type": "string", "maxLength": 3}, {"type": "null"}]},
        "when": {"type": "string", "format": "date"}, "k": {"const": "fixed"}},
        "required": ["x", "when", "k"], "additionalProperties": False},
}

# The validator itself refuses what it must (else every check below is void).
check(valid(SCHEMAS["nested"], '{"color": "pink", "size": {"w": 1, "h": 2}}') is not None,
      "jsonschema accepts an enum outside the schema")
check(valid(SCHEMAS["anyof"], '{"x": 1, "when": "2024-13-40", "k": "fixed"}') is not None,
      "jsonschema accepts a bad date")

for name, schema in SCHEMAS.items():
    stops = 0
    for seed in range(6):
        rf = {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
        status, finish, content = chat({"response_format": rf}, seed, stream=(seed == 5))
        check(status == 200, f"{name} seed {seed}: status {status}: {content}")
        if finish == "stop":
            stops += 1
            why = valid(schema, content)
            check(why is None, f"{name} seed {seed}: {content!r} is not valid: {why}")
    check(stops >= 1, f"{name}: no answer finished (the validation checked nothing)")
    print(f"{name}: {stops} of 6 answers finished and were validated")

# llama.cpp's json_schema field, on /v1/completions.
stops = 0
for seed in range(4):
    status, text = post("/v1/completions", {"prompt": "JSON:", "seed": seed, "temperature": 1.0,
                                            "max_tokens": 160, "json_schema": SCHEMAS["array"]})
    d = json.loads(text)
    check(status == 200, f"completions json_schema: {status} {text}")
    if status == 200 and d["choices"][0]["finish_reason"] == "stop":
        stops += 1
        why = valid(SCHEMAS["array"], d["choices"][0]["text"])
        check(why is None, f"completions: {d['choices'][0]['text']!r}: {why}")
check(stops >= 1, "completions json_schema: no answer finished")

# json_object: any JSON object.
stops = 0
for seed in range(4):
    status, finish, content = chat({"response_format": {"type": "json_object"}}, seed)
    if finish == "stop":
        stops += 1
        try:
            check(isinstance(json.loads(content), dict), f"json_object: {content!r}")
        except ValueError:
            check(False, f"json_object: not JSON: {content!r}")
check(stops >= 1, "json_object: no answer finished")

# A GBNF grammar: exactly one of its texts, then the end.
for seed in range(3):
    status, finish, content = chat({"grammar": 'root ::= ("yes" | "no") " " [0-9]{2}'}, seed)
    check(status == 200 and finish == "stop", f"grammar: {status} {finish}")
    import re
    check(content is not None and re.fullmatch(r"(yes|no) [0-9]{2}", content),
          f"grammar: {content!r}")
status, finish, content = chat({"response_format": {"type": "text"}}, 1, max_tokens=8)
check(status == 200, f"response_format text: {status}")

# Refusals: 400, the OpenAI error shape, the parameter and the problem named.
def refused(extra, param, words):
    status, _, text = chat(extra, 1)
    check(status == 400, f"{extra}: status {status}, not 400")
    try:
        err = json.loads(text)["error"]
    except Exception:
        check(False, f"{extra}: no error object: {text}")
        return
    check(err.get("param") == param, f"{extra}: param {err.get('param')}, not {param}")
    check(err.get("type") == "invalid_request_error", f"{extra}: type {err.get('type')}")
    check(words in err.get("message", ""), f"{extra}: message {err.get('message')!r} lacks {words!r}")

refused({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
    "type": "object", "patternProperties": {"^a": {"type": "string"}}}}}},
    "response_format", "unsupported keyword 'patternProperties'")
refused({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
    "type": "object", "properties": {"a": {"type": "string", "pattern": "^[a-z]+$"}}}}}},
    "response_format", "unsupported keyword 'pattern' at /properties/a")
refused({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
    "type": "number", "maximum": 3}}}}, "response_format", "'maximum'")
refused({"response_format": {"type": "yaml"}}, "response_format", "json_schema")
refused({"response_format": {"type": "json_schema"}}, "response_format", "json_schema")
refused({"grammar": "root ::= foo"}, "grammar", "line 1 col 10: undefined rule 'foo'")
refused({"grammar": "expr ::= expr \"+\" \"1\"\nroot ::= expr"}, "grammar", "left-recursive")
refused({"grammar": 7}, "grammar", "must be a string")
refused({"grammar": "root ::= \"a\"", "response_format": {"type": "json_object"}}, "grammar",
        "one of")
refused({"json_schema": {"type": "array", "uniqueItems": True}}, "json_schema", "'uniqueItems'")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
