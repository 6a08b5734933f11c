#!/usr/bin/env bash
# The shared option table (tools/options.c): every command that runs a model
# takes the same flags, prints the same help lines for them, and checks them
# the same way. Usage: test_options.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# The commands that load a model for generation, with the shared groups they
# take; each must print one identical help block for the flags they share.
CMDS="run chat"
for c in $CMDS; do
  "$MB" $c --help >"$T/$c.help" 2>&1
  check "[ \$? -eq 0 ]" "$c --help exits 0"
  # The model, context and thread flags with their defaults, from the table.
  for f in "-m, --model FILE" "--mlock" "--tokenizer-pre NAME" "--lora FILE" \
    "-c, --ctx-size N" "-t, --threads N" "--swa-full" "-v, --verbose"; do
    check "grep -q -- '^  $f ' '$T/$c.help'" "$c --help lists '$f'"
  done
  check "grep -q 'context size (default: min(4096, trained))' '$T/$c.help'" \
    "$c --help gives the context default"
  check "grep -q 'temperature (0: greedy; default: 0.8)' '$T/$c.help'" \
    "$c --help gives the library's default temperature"
  # One definition: the lines of a shared flag are the same in every command.
  grep -A1 -- '--top-p P' "$T/$c.help" >"$T/$c.topp"
  check "cmp -s '$T/run.topp' '$T/$c.topp'" "$c prints --top-p as run does"
  # Values are checked by the table: out of range, not a number, missing.
  "$MB" $c -m /nonexistent.gguf --temp -1 </dev/null >/dev/null 2>"$T/err"
  check "grep -q -- '--temp -1: must be 0 (greedy) or more' '$T/err'" "$c refuses --temp -1"
  "$MB" $c -m /nonexistent.gguf -c 2x </dev/null >/dev/null 2>"$T/err"
  check "grep -q -- \"-c expects an integer in 0..16777216, got '2x'\" '$T/err'" "$c refuses -c 2x"
  "$MB" $c -m /nonexistent.gguf --top-p 1.5 </dev/null >/dev/null 2>"$T/err"
  check "grep -q -- '--top-p 1.5: must be between 0 and 1' '$T/err'" "$c refuses --top-p 1.5"
  "$MB" $c -m /nonexistent.gguf -t </dev/null >/dev/null 2>"$T/err"
  check "grep -q -- '-t needs a value' '$T/err'" "$c: -t without a value"
done

# Commands that take some of the groups print those lines exactly as run
# does: one definition, one format.
for c in serve perplexity bench agent summarize; do
  "$MB" $c --help >"$T/$c.help" 2>&1
  check "[ \$? -eq 0 ]" "$c --help exits 0"
done
for pair in "serve:--mlock" "serve:--lora FILE" "serve:--swa-full" "serve:-c, --ctx-size N" \
  "perplexity:--mlock" "perplexity:--lora FILE" "perplexity:-t, --threads N" \
  "perplexity:--swa-full" "bench:-t, --threads N" "bench:--swa-full" \
  "agent:--top-p P" "agent:--temp T" "summarize:--top-p P" "summarize:-s, --seed N"; do
  c=${pair%%:*} f=${pair#*:}
  grep -- "^  $f " "$T/run.help" >"$T/want"
  grep -- "^  $f " "$T/$c.help" >"$T/got"
  check "[ -s '$T/got' ] && cmp -s '$T/want' '$T/got'" "$c prints '$f' as run does"
done
"$MB" perplexity /nonexistent.gguf x.txt -t 0 >/dev/null 2>"$T/err"
check "grep -q -- \"-t expects an integer in 1..1024, got '0'\" '$T/err'" "perplexity refuses -t 0"
"$MB" serve -m /nonexistent.gguf --top-p 2 >/dev/null 2>"$T/err"
check "grep -q -- \"unknown option '--top-p'\" '$T/err'" "serve takes no sampling flags"

# --mem-budget: sizes are parsed by the table; a budget below the model's
# least is refused naming both sizes; under a budget the text is the one
# without, and run says what is resident and what was read.
"$MB" run -m /nonexistent.gguf --mem-budget 12Q </dev/null >/dev/null 2>"$T/err"
check "grep -q -- \"--mem-budget expects a size such as 300M, 1.5G or 4096 (bytes), got '12Q'\" '$T/err'" \
  "run refuses --mem-budget 12Q"
"$MB" bench -m /nonexistent.gguf --mem-budget 0 >/dev/null 2>"$T/err"
check "grep -q -- \"--mem-budget expects a size\" '$T/err'" "bench refuses --mem-budget 0"
A=$(cd "$(dirname "$0")/.." && pwd)/assets/mbx-5m-f16.gguf
if [ -f "$A" ]; then
  "$MB" run -m "$A" -p "Once" -n 4 --mem-budget 1M >/dev/null 2>"$T/err"
  check "grep -q 'memory budget 1.00 MiB is below the [0-9.]* MiB this model needs at least' '$T/err'" \
    "run refuses a budget below the least"
  "$MB" run -m "$A" -p "Once upon a time" -n 12 --temp 0 >"$T/a" 2>/dev/null
  "$MB" run -m "$A" -p "Once upon a time" -n 12 --temp 0 --mem-budget 7.5M -v >"$T/b" 2>"$T/err"
  check "cmp -s '$T/a' '$T/b'" "run --mem-budget 7.5M gives the resident run's text"
  check "grep -q 'weights under a budget of 7.5 MiB: .* resident (. of 6 layers' '$T/err'" \
    "run -v prints the plan"
  check "grep -q 'MB read from the file in [0-9]* forward passes' '$T/err'" "run reports the reads"
  "$MB" bench "$A" -p 8 -n 4 -r 1 --bw-mib 0 --mem-budget 7.5M >"$T/out" 2>&1
  check "grep -q '^budget    weights under a budget of 7.5 MiB' '$T/out'" "bench prints the plan"
  check "grep -q 'MB read from the file per decoded token' '$T/out'" "bench prints the reads"
fi

if [ ! -f "$SHARED/models/stories260K.gguf" ]; then
  echo "SKIP (the rest): $SHARED/models/stories260K.gguf is absent"
  finish
fi
M=$SHARED/models/stories260K.gguf

# The parsed values reach the library: -c sets the cache, --mlock and the
# sampling flags are accepted, a seed reproduces the run.
"$MB" run -m "$M" -p "Once" -n 4 -c 48 -t 1 --mlock --top-k 5 --seed 3 >"$T/a" 2>"$T/err"
check "grep -q 'KV cache: 48 positions' '$T/err'" "run -c 48 gives a 48-position cache"
"$MB" run -m "$M" -p "Once" -n 4 -c 48 -t 1 --top-k 5 --seed 3 >"$T/b" 2>/dev/null
check "cmp -s '$T/a' '$T/b'" "run --seed 3 twice gives one text"
printf 'Hello\n' | "$MB" chat -m "$M" -n 4 -c 64 --temp 0 -v >/dev/null 2>"$T/err"
check "grep -q 'KV cache: 64 positions' '$T/err'" "chat -c 64 gives a 64-position cache"
finish
