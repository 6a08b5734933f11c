#!/usr/bin/env bash
# End-to-end tool calling through `matchbox serve` (docs/SERVER.md, "Tool
# calling"): random-weight models with real chat templates (Qwen2.5 =
# Hermes <tool_call>, on the Llama 2 and the GPT-2 vocabularies; Llama 3.1;
# Mistral Nemo = [TOOL_CALLS]) and
# stories260K without a template (the generic format). Under tool_choice
# "required" or a named function the answer is constrained, so even a
# random model must return valid tool_calls: names among the tools,
# arguments valid against their schema (python3-jsonschema), streamed and
# not, the same calls both ways. Also: auto and none never show markup, a
# two-step round trip (assistant tool_calls + tool message) renders and
# answers, and bad tool input is a 400 naming the field.
# Usage: test_server_tools.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
R=$SHARED/models/llama-2-tiny-random.gguf
TPL=$SHARED/templates
for need in curl python3; do
  command -v $need >/dev/null || { echo "SKIP: $need is not installed"; exit 77; }
done
python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
for f in "$M" "$R" "$TPL/Qwen-Qwen2.5-7B-Instruct.jinja" "$TPL/meta-llama-Llama-3.1-8B-Instruct.jinja" \
  "$TPL/mistralai-Mistral-Nemo-Instruct-2407.jinja"; do
  [ -f "$f" ] || { echo "SKIP: $f is absent"; exit 77; }
done
. "$(dirname "$0")/lib/serve.sh"

specs=("generic $M" "hermes $R --chat-template-file $TPL/Qwen-Qwen2.5-7B-Instruct.jinja"
  "llama3 $R --chat-template-file $TPL/meta-llama-Llama-3.1-8B-Instruct.jinja"
  "mistral $R --chat-template-file $TPL/mistralai-Mistral-Nemo-Instruct-2407.jinja")
# A byte-level BPE vocabulary (GPT-2's 50k) too: Qwen's template on a
# random qwen2 model made by the shared generator.
if python3 "$SHARED/tools/synth_gguf.py" qwen2-tiny "$T/qwen2-tiny.gguf" --seed 1 >/dev/null 2>&1; then
  specs+=("hermes_bpe $T/qwen2-tiny.gguf --chat-template-file $TPL/Qwen-Qwen2.5-7B-Instruct.jinja")
else
  bad "synth_gguf.py qwen2-tiny failed"
fi
servers=()
for spec in "${specs[@]}"; do
  # shellcheck disable=SC2086
  if ! start $spec --slots 2 -c 2048 -v; then
    echo "0 passed, 1 failed"
    exit 1
  fi
  name=${spec%% *}
  servers+=("$name=$PORT")
  # The format each server found in its template.
  check "grep -q 'tool calls in the ${name%_bpe} format' '$T/$name.log'" "$name: format detected"
done

# The checks run in Python; each prints "ok: ..." or "FAIL: ...".
python3 - "${servers[@]}" >"$T/checks.txt" 2>&1 <<'PY'
import json, re, sys, urllib.request, urllib.error
import jsonschema

ports = dict(a.split("=") for a in sys.argv[1:])
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "The weather in a city",
        "parameters": {"type": "object",
                       "properties": {"city": {"type": "string", "enum": ["Oslo", "Paris", "Lima"]},
                                      "days": {"type": "integer"},
                                      "metric": {"type": "boolean"}},
                       "required": ["city", "days"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "get_time", "description": "The time in a zone",
        "parameters": {"type": "object",
                       "properties": {"tz": {"type": "string", "enum": ["UTC", "CET"]}},
                       "required": ["tz"]}}},
]
SCHEMA = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
MARKUP = ("<tool_call>", "</tool_call>", "[TOOL_CALLS]", "<|python_tag|>", '"tool_call"')
USER = [{"role": "user", "content": "What is the weather in Paris?"}]

def say(good, what):
    print(("ok: " if good else "FAIL: ") + what, flush=True)
    return good

def post(port, body, stream=False):
    body = dict(body, stream=stream)
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read().decode()
            code = r.status
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())
    if not stream:
        return code, json.loads(raw)
    return code, assemble(raw)

def assemble(raw):
    """A stream's chunks into the shape of a whole answer (OpenAI's rules)."""
    lines = [l[6:] for l in raw.split("\n") if l.startswith("data: ")]
    assert lines[-1] == "[DONE]", "no [DONE]"
    chunks = [json.loads(l) for l in lines[:-1]]
    content, calls, finish, usage = "", {}, None, None
    for c in chunks:
        assert c["object"] == "chat.completion.chunk"
        ch = c["choices"][0]
        d = ch["delta"]
        content += d.get("content") or ""
        for tc in d.get("tool_calls") or []:
            k = calls.setdefault(tc["index"], {"id": None, "type": None,
                                               "function": {"name": "", "arguments": ""}})
            k["id"] = tc.get("id") or k["id"]
            k["type"] = tc.get("type") or k["type"]
            f = tc.get("function") or {}
            k["function"]["name"] += f.get("name") or ""
            k["function"]["arguments"] += f.get("arguments") or ""
        if ch["finish_reason"] is not None:
            assert finish is None, "two finish reasons"
            finish = ch["finish_reason"]
        usage = c.get("usage") or usage
    assert chunks[-1]["choices"][0]["finish_reason"] == finish and usage
    msg = {"role": "assistant", "content": content or None}
    if calls:
        msg["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {"choices": [{"message": msg, "finish_reason": finish}], "usage": usage}

def valid_calls(name, d, allowed, mistral):
    """The answer D is tool calls, each to a function in ALLOWED with
    arguments valid against its schema. Returns the calls as (name, args)."""
    ch = d["choices"][0]
    msg = ch["message"]
    calls = msg.get("tool_calls") or []
    good = say(ch["finish_reason"] == "tool_calls" and len(calls) > 0,
               f"{name}: finish_reason tool_calls with calls ({ch['finish_reason']}, {len(calls)})")
    good &= say(msg.get("content") in (None, ""), f"{name}: content null ({msg.get('content')!r})")
    out = []
    for c in calls:
        f = c["function"]
        idok = re.fullmatch(r"[A-Za-z0-9]{9}", c["id"] or "") if mistral else \
            re.fullmatch(r"call_[A-Za-z0-9]{24}", c["id"] or "")
        good &= say(bool(idok) and c["type"] == "function", f"{name}: id {c['id']!r}, type")
        good &= say(f["name"] in allowed, f"{name}: function {f['name']!r} among {allowed}")
        try:
            args = json.loads(f["arguments"])
            jsonschema.validate(args, SCHEMA[f["name"]])
            good &= say(True, f"{name}: arguments {f['arguments']} valid")
        except Exception as e:  # not JSON, or not valid against the schema
            good &= say(False, f"{name}: arguments {f['arguments']!r}: {e}")
            args = None
        out.append((f["name"], args))
    if len({c["id"] for c in calls}) != len(calls):
        say(False, f"{name}: ids not unique")
    return out

# Constrained: required and a named function, streamed and not.
for fmt, port in ports.items():
    for choice, allowed in (("required", ["get_weather", "get_time"]),
                            ({"type": "function", "function": {"name": "get_time"}}, ["get_time"])):
        for par in (False, True):
            if par and fmt == "llama3":
                continue  # Llama 3.1 writes one call per answer
            label = f"{fmt} {choice if isinstance(choice, str) else 'named'} parallel={par}"
            body = {"messages": USER, "tools": TOOLS, "tool_choice": choice, "seed": 7,
                    "max_tokens": 160, "parallel_tool_calls": par}
            code, d = post(port, body)
            if not say(code == 200, f"{label}: status {code} {d if code != 200 else ''}"):
                continue
            plain = valid_calls(label, d, allowed, fmt == "mistral")
            if not par or choice != "required":
                say(len(plain) == 1, f"{label}: one call (no parallel_tool_calls, or named)")
            code, s = post(port, body, stream=True)
            if say(code == 200, f"{label} streamed: status {code}"):
                streamed = valid_calls(label + " streamed", s, allowed, fmt == "mistral")
                say(streamed == plain, f"{label}: the same calls streamed and not")

# auto and none: whatever a random model writes, no markup in the content.
for fmt, port in ports.items():
    for choice in ("auto", "none"):
        for stream in (False, True):
            code, d = post(port, {"messages": USER, "tools": TOOLS, "tool_choice": choice,
                                  "seed": 3, "max_tokens": 48}, stream)
            msg = d["choices"][0]["message"] if code == 200 else {}
            text = msg.get("content") or ""
            say(code == 200 and not any(m in text for m in MARKUP) and
                (choice == "auto" or not msg.get("tool_calls")),
                f"{fmt} {choice} stream={stream}: {code}, no markup in {text[:60]!r}")

# A round trip: the calls answered by a tool message, then an answer.
for fmt, port in ports.items():
    code, d = post(port, {"messages": USER, "tools": TOOLS, "tool_choice": "required",
                          "parallel_tool_calls": False, "seed": 5, "max_tokens": 160})
    if not say(code == 200 and d["choices"][0]["message"].get("tool_calls"), f"{fmt}: first step"):
        continue
    first = d["usage"]["prompt_tokens"]
    call = d["choices"][0]["message"]["tool_calls"][0]
    conv = USER + [{"role": "assistant", "content": None, "tool_calls": [call]},
                   {"role": "tool", "tool_call_id": call["id"], "content": "{\"temp_c\": 21}"}]
    code, d = post(port, {"messages": conv, "tools": TOOLS, "seed": 5, "max_tokens": 24})
    say(code == 200 and d["usage"]["prompt_tokens"] > first,
        f"{fmt}: the round trip renders the call and its result ({code}, "
        f"{d.get('usage', {}).get('prompt_tokens')} > {first} prompt tokens)")
    # OpenAI's ids ("call_...") in a Mistral conversation: mapped to 9 characters.
    other = dict(call, id="call_abc123")
    conv2 = USER + [{"role": "assistant", "content": None, "tool_calls": [other]},
                    {"role": "tool", "tool_call_id": "call_abc123", "content": "21"}]
    code, d = post(port, {"messages": conv2, "tools": TOOLS, "max_tokens": 4})
    say(code == 200, f"{fmt}: any tool call id is accepted ({code})")

# A template's own refusal is a 400: Llama 3.1 takes one call per message.
two = [{"id": f"call_{i}", "type": "function",
        "function": {"name": "get_time", "arguments": "{\"tz\": \"UTC\"}"}} for i in range(2)]
code, d = post(ports["llama3"], {"messages": USER + [{"role": "assistant", "content": None,
                                                      "tool_calls": two}], "tools": TOOLS})
say(code == 400 and d["error"]["param"] == "messages" and "single" in d["error"]["message"],
    f"llama3: two calls in one message refused by the template: {code} {d}")

# Bad tool input: 400s naming the field.
bad = [({"tools": {"a": 1}}, "tools"),
       ({"tools": [{"type": "function", "function": {"name": "no spaces"}}]},
        "tools[0].function.name"),
       ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
        "tool_choice"),
       ({"tool_choice": "required"}, "tool_choice"),
       ({"tools": [{"type": "function", "function": {"name": "f", "parameters":
                                                     {"type": "string"}}}]},
        "tools[0].function.parameters"),
       ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
           "type": "object", "patternProperties": {"^x": {"type": "string"}}}}}],
         "tool_choice": "required"}, "tools[0].function.parameters"),
       ({"messages": USER + [{"role": "tool", "content": "x"}]}, "messages[1].tool_call_id")]
for extra, param in bad:
    code, d = post(ports["hermes"], dict({"messages": USER}, **extra))
    say(code == 400 and d["error"]["param"] == param,
        f"400 naming {param}: {code} {d.get('error', {}).get('message')}")
# An unsupported keyword only matters where the arguments are constrained.
code, d = post(ports["hermes"], {"messages": USER, "max_tokens": 4, "tools": [
    {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "patternProperties": {"^x": {"type": "string"}}}}}]})
say(code == 200, f"the same tools under auto: {code}")
PY
while IFS= read -r line; do
  case "$line" in
  ok:*) ok ;;
  FAIL:*) bad "${line#FAIL: }" ;;
  *) bad "python: $line" ;;
  esac
done <"$T/checks.txt"
check "grep -q . '$T/checks.txt'" "the checks ran"

# Sanitizer builds: any report in a server's log is a failure.
check "! grep -l 'Sanitizer' '$T'/*.log" "no sanitizer reports in the servers' logs"
finish
