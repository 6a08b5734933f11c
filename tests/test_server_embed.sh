#!/usr/bin/env bash
# End-to-end tests of POST /v1/embeddings and of the model names a server
# answers to: the four input shapes, float and base64 (the same floats),
# mean and last pooling, unit length, a batch equal to its inputs one by
# one, a text equal to its token ids, the 400s for bad inputs and limits,
# /metrics; any model name by default, --alias and --strict-model-name.
# Usage: test_server_embed.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
for need in curl python3; do
  command -v $need >/dev/null || { echo "SKIP: $need is not installed"; exit 77; }
done
[ -f "$M" ] || { echo "SKIP: $M is absent"; exit 77; }
. "$(dirname "$0")/lib/serve.sh"

post() { # NAME PATH BODY: the answer in $T/NAME.json, the status in $T/NAME.code
  curl -s -m 60 -o "$T/$1.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary "$3" "http://127.0.0.1:$PORT$2" >"$T/$1.code"
}
code() { cat "$T/$1.code"; }
js() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/$1.json" "$2" 2>/dev/null; }
# py EXPR over the named answers a, b, ...: NAMES as a list of files.
cmp_py() { python3 - "$T" "$@" <<'PY'
import base64, json, math, struct, sys
t, expr, names = sys.argv[1], sys.argv[2], sys.argv[3:]
d = {n: json.load(open(f"{t}/{n}.json")) for n in names}
def emb(n, i=0):
    e = d[n]["data"][i]["embedding"]
    if isinstance(e, str):
        raw = base64.b64decode(e)
        return list(struct.unpack("<%df" % (len(raw) // 4), raw))
    return e
def norm(v): return math.sqrt(sum(x * x for x in v))
def maxdiff(a, b): return max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) else 1e9
print(eval(expr))
PY
}
# expect 'WHAT' 'EXPR' NAMES...: EXPR over the answers NAMES is True.
expect() {
  local what=$1 expr=$2
  shift 2
  local got
  got=$(cmp_py "$expr" "$@" 2>&1)
  check "[ \"$got\" = True ]" "$what (got: $got)"
}

if ! start main "$M" -c 256; then
  echo "0 passed, 1 failed"
  exit 1
fi
E=/v1/embeddings
N_EMBD=64 # stories260K's width

# ---- shapes, formats, pooling ------------------------------------------------
post one $E '{"input":"Once upon a time","model":"stories260K"}'
check "[ $(code one) = 200 ]" "a string input answers 200 (got $(code one): $(head -c 300 $T/one.json))"
check "[ \"$(js one 'd["object"], d["data"][0]["object"], d["data"][0]["index"], d["model"], len(d["data"])')\" = \"('list', 'embedding', 0, 'stories260K', 1)\" ]" "the answer has OpenAI's shape"
check "[ \"$(js one 'len(d["data"][0]["embedding"])')\" = $N_EMBD ]" "an embedding has the model's width"
# Tokens: BOS + 4 (matchbox tokenize prints them).
ntok=$("$MB" tokenize "$M" "Once upon a time" | wc -l)
check "[ \"$(js one 'd["usage"]["prompt_tokens"], d["usage"]["total_tokens"]')\" = \"($ntok, $ntok)\" ]" "usage counts the input's $ntok tokens"
expect 'the embedding has unit length' 'abs(norm(emb("one")) - 1) < 1e-5' one
ids=$("$MB" tokenize "$M" "Once upon a time" --ids | tr ' ' ',')
post ids $E "{\"input\":[$ids]}"
expect "a text and its token ids ($ids) give the same embedding" 'emb("one") == emb("ids")' one ids
post b64 $E '{"input":"Once upon a time","encoding_format":"base64"}'
check "[ \"$(js b64 'type(d["data"][0]["embedding"]).__name__')\" = str ]" "base64 is a string"
expect 'base64 holds the same little-endian float32 values' '[struct.unpack("<f", struct.pack("<f", x))[0] for x in emb("one")] == emb("b64")' one b64
post batch $E '{"input":["Once upon a time","The dog ran","Lily"]}'
post dog $E '{"input":"The dog ran"}'
post lily $E '{"input":"Lily"}'
expect 'a batch'\''s embeddings are its inputs'\'' own, in order' '[x["index"] for x in d["batch"]["data"]] == [0, 1, 2] and maxdiff(emb("batch", 0), emb("one")) < 1e-6 and maxdiff(emb("batch", 1), emb("dog")) < 1e-6 and maxdiff(emb("batch", 2), emb("lily")) < 1e-6' batch one dog lily
expect 'different texts give different embeddings' 'maxdiff(emb("one"), emb("dog")) > 1e-3' one dog
post idsbatch $E "{\"input\":[[$ids],[1,50,60]]}"
expect 'an array of arrays of ids' 'len(d["idsbatch"]["data"]) == 2 and emb("idsbatch", 0) == emb("one")' idsbatch one
post last $E '{"input":"Once upon a time","pooling":"last"}'
expect 'last-token pooling differs from the mean' 'maxdiff(emb("one"), emb("last")) > 1e-3 and abs(norm(emb("last")) - 1) < 1e-5' one last
post m1 $E '{"input":[[1]]}'
post l1 $E '{"input":[[1]],"pooling":"last"}'
expect 'one token: mean and last agree' 'maxdiff(emb("m1"), emb("l1")) < 1e-6' m1 l1

# ---- errors and limits ---------------------------------------------------------
err400() { # NAME BODY [PARAM]: a 400 with an OpenAI error body
  post "$1" $E "$2"
  check "[ $(code "$1") = 400 ] && [ \"\$(js $1 'd[\"error\"][\"type\"] == \"invalid_request_error\" and len(d[\"error\"][\"message\"]) > 0')\" = True ]" "400 for $1 (got $(code "$1"): $(head -c 200 "$T/$1.json"))"
  [ -z "${3:-}" ] || check "[ \"$(js "$1" 'd["error"]["param"]')\" = $3 ]" "$1 names $3"
}
err400 noinput '{"model":"x"}' input
err400 emptystr '{"input":""}' input
err400 emptyarr '{"input":[]}' input
err400 emptyids '{"input":[[]]}' input
err400 mixed '{"input":["a",[1,2]]}' input
err400 notid '{"input":[1,2.5]}' input
err400 negid '{"input":[1,-3]}' input
err400 objinput '{"input":{"a":1}}' input
err400 badfmt '{"input":"a","encoding_format":"int8"}' encoding_format
err400 badpool '{"input":"a","pooling":"cls"}' pooling
err400 dims '{"input":"a","dimensions":8}' dimensions
err400 nul '{"input":"a\u0000b"}' input
err400 trailing '{"input":"a"} x'
err400 vocab '{"input":[[1,2,100000]]}' input
check "grep -q 100000 $T/vocab.json" "the id outside the vocabulary is named"
long=$(python3 -c 'print(",".join(["5"] * 300))')
err400 toolong "{\"input\":[[$long]]}" input
check "grep -q 300 $T/toolong.json && grep -q 256 $T/toolong.json && [ \"$(js toolong 'd["error"]["code"]')\" = context_length_exceeded ]" "an input longer than the context names both numbers"
many=$(python3 -c 'print(",".join(["\"a\""] * 2049))')
err400 toomany "{\"input\":[$many]}" input
post ok2048 $E "{\"input\":[$(python3 -c 'print(",".join(["[7]"] * 2048))')]}"
check "[ $(code ok2048) = 200 ] && [ \"$(js ok2048 'len(d["data"])')\" = 2048 ]" "2048 inputs are accepted"
curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$E" >"$T/get.code"
check "[ $(code get) = 405 ]" "GET /v1/embeddings is 405"
curl -s -m 10 "http://127.0.0.1:$PORT/metrics" >"$T/metrics.txt"
check "grep -q 'matchbox_requests_total{endpoint=\"/v1/embeddings\",status=\"200\"}' $T/metrics.txt" "/metrics counts /v1/embeddings"
check "grep -q 'embeddings: a session of its own, context 256' $T/main.log" "the embedding session is reported with its memory"

# ---- model names ------------------------------------------------------------------
C=/v1/chat/completions
P=/v1/completions
for name in gpt-4 stories260K; do
  post "any-$name" $C "{\"model\":\"$name\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":2}"
  check "[ $(code any-$name) = 200 ]" "by default '$name' is this model (got $(code any-$name))"
done
post anyemb $E '{"model":"text-embedding-3-small","input":"a"}'
check "[ $(code anyemb) = 200 ] && [ \"$(js anyemb 'd["model"]')\" = stories260K ]" "by default any embedding model name is this model"

start strict "$M" -c 256 --alias tiny-stories --strict-model-name || exit 1
curl -s -m 10 "http://127.0.0.1:$PORT/v1/models" >"$T/models.json"
check "[ \"$(js models '[m["id"] for m in d["data"]]')\" = \"['tiny-stories']\" ]" "/v1/models lists the alias"
for name in tiny-stories stories260K stories260K.gguf; do
  post "strict-ok-$name" $C "{\"model\":\"$name\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":2}"
  check "[ $(code strict-ok-$name) = 200 ] && [ \"$(js strict-ok-$name 'd["model"]')\" = tiny-stories ]" "strict: '$name' is this model, answered as the alias"
done
for path in $C $P $E; do
  tag=${path//\//_}
  post "strict-no$tag" $path '{"model":"gpt-4","messages":[{"role":"user","content":"Hi"}],"prompt":"Hi","input":"Hi","max_tokens":2}'
  check "[ $(code strict-no$tag) = 404 ] && [ \"$(js strict-no$tag 'd["error"]["code"], d["error"]["type"], d["error"]["param"]')\" = \"('model_not_found', 'invalid_request_error', 'model')\" ]" "strict: another name is 404 model_not_found on $path (got $(code strict-no$tag))"
done
post strict-none $E '{"input":"Hi"}'
check "[ $(code strict-none) = 200 ]" "strict: a request naming no model is served"

finish
