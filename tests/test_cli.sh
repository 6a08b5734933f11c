#!/usr/bin/env bash
# End-to-end tests of the matchbox CLI: run, inspect, tokenize, convert, on
# the real stories260K and on hostile files. Usage: test_cli.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

if [ ! -f "$SHARED/models/stories260K.gguf" ]; then
  echo "SKIP: $SHARED/models/stories260K.gguf is absent"
  exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
M=$SHARED/models/stories260K.gguf
REF=$SHARED/reference/stories260K

# Every command has --help, and it exits 0.
for c in run inspect tokenize convert; do
  check "'$MB' $c --help >/dev/null" "$c --help"
done
check "'$MB' --version | grep -q matchbox" "--version"

# Greedy run reproduces the reference continuation exactly.
want=$(cat "$REF/once.gen.txt")
got=$("$MB" run "$M" "Once upon a time" -n 32 --temp 0 2>"$T/err")
check "[ \"\$got\" = \"Once upon a time\$want\" ]" "greedy text: got [$got] want [Once upon a time$want]"
check "grep -q 'decode:.*tok/s' '$T/err'" "decode tok/s on stderr"
check "grep -q 'KV cache' '$T/err'" "KV-cache size printed"

# The prompt can come from a file or from stdin, with the same result.
printf 'Once upon a time' >"$T/prompt.txt"
got_f=$("$MB" run "$M" -f "$T/prompt.txt" -n 32 --temp 0 2>/dev/null)
got_s=$(printf 'Once upon a time' | "$MB" run "$M" -n 32 --temp 0 2>/dev/null)
check "[ \"\$got_f\" = \"\$got\" ]" "prompt from -f"
check "[ \"\$got_s\" = \"\$got\" ]" "prompt from stdin"

# The same seed reproduces a sampled run; the output stops at -n tokens.
a=$("$MB" run "$M" "Once" -n 40 --seed 7 2>/dev/null)
b=$("$MB" run "$M" "Once" -n 40 --seed 7 2>/dev/null)
check "[ \"\$a\" = \"\$b\" ]" "seeded runs differ"

# A stop string ends generation before it is printed.
got=$("$MB" run "$M" "Once upon a time" -n 32 --temp 0 --stop "Lily" 2>/dev/null)
check "[ \"\$got\" = \"Once upon a time, there was a little girl named \" ]" "stop string: [$got]"

# --logits-out writes n_vocab float32 per step; step 0 matches the reference.
"$MB" run "$M" "Once upon a time" -n 4 --temp 0 --logits-out "$T/logits.f32" >/dev/null 2>&1
check "[ \$(stat -c %s '$T/logits.f32' 2>/dev/null || echo 0) -eq $((4 * 512 * 4)) ]" "logits-out size"
check "python3 - '$T/logits.f32' '$REF/once.logits_step0.f32' <<'PY'
import struct, sys
a = open(sys.argv[1], 'rb').read()[:2048]; b = open(sys.argv[2], 'rb').read()
x = struct.unpack('512f', a); y = struct.unpack('512f', b)
rng = max(y) - min(y)
sys.exit(0 if max(abs(p - q) for p, q in zip(x, y)) <= 1e-4 * rng else 1)
PY" "logits-out step 0 vs reference"

# A prompt longer than the context is an error with both numbers.
long=$(printf 'Once upon a time %.0s' $(seq 1 20))
"$MB" run "$M" "$long" -c 16 -n 4 >/dev/null 2>"$T/err"
rc=$?
check "[ $rc -eq 1 ] && grep -q 'context has room for 16' '$T/err'" "long prompt: rc $rc, $(cat "$T/err")"

# A KV cache that cannot fit in RAM is refused with the memory plan's parts
# and a context that fits, before allocating (tests/test_fit.sh has more).
"$MB" run "$SHARED/models/llama-125m-Q4_K_M.gguf" "hi" -c 16000000 -n 1 >/dev/null 2>"$T/err"
rc=$?
check "[ $rc -eq 1 ] && grep -q 'does not fit: needs .* (weights .* KV .* MiB for 16000000 positions' '$T/err' && grep -q 'are available' '$T/err' && grep -Eq 'try -c [0-9]+' '$T/err'" "RAM check: rc $rc, $(cat "$T/err")"

# inspect: text and JSON.
check "'$MB' inspect '$M' | grep -q 'blk.0.attn_q.weight'" "inspect lists tensors"
check "'$MB' inspect '$M' --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d[\"tensors\"]) == 48'" "inspect --json"
check "'$MB' tokenize '$M' 'Once upon a time' --ids | grep -qx '1 403 407 261 378'" "tokenize ids"
# tokenize works on vocab-only files (no weights).
check "'$MB' tokenize '$SHARED/models/ggml-vocab-llama-spm.gguf' 'Hello world' --ids | grep -qx '1 15043 3186'" "tokenize on a vocab-only file"

# Hostile files: every one is refused with a message by inspect and run, never a crash.
python3 - "$M" "$T" <<'PY'
import struct, sys
src, out = sys.argv[1], sys.argv[2]
data = open(src, 'rb').read()
def w(name, b): open(f"{out}/{name}.gguf", 'wb').write(b)
w("truncated-header", data[:20])
w("truncated-kv", data[:300])
w("truncated-data", data[:len(data) - 100])
w("bad-magic", b"GGUX" + data[4:])
w("version-1", data[:4] + struct.pack("<I", 1) + data[8:])
w("huge-tensor-count", data[:8] + struct.pack("<Q", 1 << 62) + data[16:])
w("huge-kv-count", data[:16] + struct.pack("<Q", 1 << 62) + data[24:])
# first key's length made enormous
w("huge-key-length", data[:24] + struct.pack("<Q", 1 << 60) + data[32:])
w("empty", b"")
# corrupt the first tensor's type (find its name in the header)
i = data.find(b"token_embd.weight")
if i > 0:
    j = i + len(b"token_embd.weight")
    nd = struct.unpack_from("<I", data, j)[0]
    t = j + 4 + 8 * nd
    w("bad-type", data[:t] + struct.pack("<I", 99) + data[t + 4:])
    w("bad-offset", data[:t + 4] + struct.pack("<Q", 1 << 40) + data[t + 12:])
    w("overflow-dims", data[:j + 4] + struct.pack("<Q", 1 << 62) + struct.pack("<Q", 1 << 62) + data[j + 20:])
PY
for f in "$T"/*.gguf; do
  name=$(basename "$f" .gguf)
  "$MB" inspect "$f" >/dev/null 2>"$T/err"; rc=$?
  check "[ $rc -eq 1 ] && grep -q '^error: ' '$T/err'" "inspect $name: rc $rc: $(head -c 300 "$T/err")"
  "$MB" run "$f" "hi" -n 2 >/dev/null 2>"$T/err"; rc=$?
  check "[ $rc -eq 1 ] && grep -q '^error: ' '$T/err'" "run $name: rc $rc: $(head -c 300 "$T/err")"
done

# A missing model gets a message that says how to get one.
mkdir -p "$T/nomodel/cwd"  # so ../shared (the default lookup) is $T/nomodel/shared: absent
( cd "$T/nomodel/cwd" && MATCHBOX_MODEL= HOME=$T "$MB" run "hello" -n 1 >/dev/null 2>"$T/err" </dev/null )
check "grep -q 'MATCHBOX_MODEL' '$T/err'" "no-model message: $(cat "$T/err")"

# convert: the llama2.c checkpoint gives the same greedy text as the GGUF.
if [ -f "$SHARED/models/stories260K.bin" ]; then
  "$MB" convert "$SHARED/models/stories260K.bin" "$T/conv.gguf" --tokenizer "$SHARED/models/tok512.bin" >/dev/null 2>"$T/err"
  check "[ -f '$T/conv.gguf' ]" "convert: $(cat "$T/err")"
  a=$("$MB" run "$M" "Once upon a time" -n 32 --temp 0 2>/dev/null)
  b=$("$MB" run "$T/conv.gguf" "Once upon a time" -n 32 --temp 0 2>/dev/null)
  check "[ \"\$a\" = \"\$b\" ]" "converted model differs: [$b]"
fi

finish
