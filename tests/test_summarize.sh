#!/usr/bin/env bash
# End-to-end tests of `matchbox summarize` on stories260K (a 260K-parameter
# story model, run at a 256-token context here, so the summaries are poor: this
# checks the mechanics): a slice of ../shared/data/pg11.txt is split into
# several chunks, every chunk is summarized, the levels end, the result
# keeps --words, memory does not grow with the text, --report and stdin
# work, and --oracle sends the final merge to a second `matchbox serve` on
# loopback. Usage: test_summarize.sh MATCHBOX SHARED
set -u
. "$(dirname "$0")/lib/common.sh"

M=$SHARED/models/stories260K.gguf
TXT=$SHARED/data/pg11.txt
if [ ! -f "$M" ] || [ ! -f "$TXT" ]; then
  echo "SKIP: $M or $TXT is absent"
  exit 77
fi
. "$(dirname "$0")/lib/serve.sh"

check "'$MB' summarize --help | grep -q -- --words" "summarize --help"

# 6 KB of the book: several chunks and two levels at a 256-token context.
head -c 6000 "$TXT" >"$T/small.txt"
"$MB" summarize "$M" "$T/small.txt" --words 20 --temp 0 -s 1 -t 2 -c 256 --report \
  >"$T/a.out" 2>"$T/a.err"
check "[ \$? -eq 0 ]" "summarize exits 0"
n=$(sed -n 's/^level 1: \([0-9]*\) chunks$/\1/p' "$T/a.err")
check "[ -n '$n' ] && [ '$n' -ge 2 ]" "level 1 has several chunks (got '$n')"
# Every chunk of every level is summarized once, in order.
check "python3 - '$T/a.err' <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
want, seen = None, []
for l in lines:
    m = re.match(r'level (\d+): (\d+) chunks$', l)
    if m:
        assert want is None or seen == list(range(1, want + 1)), (want, seen)
        want, seen = int(m.group(2)), []
    m = re.match(r'chunk (\d+)/(\d+)( \(.* s left at this level, .*\))?$', l)
    if m:
        assert int(m.group(2)) == want
        seen.append(int(m.group(1)))
assert seen == list(range(1, want + 1)), (want, seen)
assert sum(l.startswith('final:') for l in lines) == 1
EOF" "each level's chunks are all summarized, then one final call"
words=$(wc -w <"$T/a.out")
check "[ '$words' -le 20 ]" "the result keeps --words 20 (got $words words)"
check "grep -q '^done: [0-9]* level' '$T/a.err'" "a done line"
check "grep -Eq '^grounding: ([0-9.]+ \\(|n/a)' '$T/a.err'" "--report prints the grounding score"

# Memory: four times the text, about the same peak (one context, reused).
# Not under the sanitizers, whose shadow memory and quarantine grow with
# every allocation (and whose slow decoding would make this long).
# (gcc links libasan dynamically, so its binaries do not hold the name.)
sanitized=0
if grep -qa AddressSanitizer "$MB" || ldd "$MB" 2>/dev/null | grep -q libasan; then
  sanitized=1
fi
if [ -x /usr/bin/time ] && [ "$sanitized" = 0 ]; then
  head -c 24000 "$TXT" >"$T/big.txt"
  /usr/bin/time -f '%M' -o "$T/small.rss" "$MB" summarize "$M" "$T/small.txt" --words 10 -c 256 \
    --temp 0 -t 2 >/dev/null 2>&1
  /usr/bin/time -f '%M' -o "$T/big.rss" "$MB" summarize "$M" "$T/big.txt" --words 10 -c 256 \
    --temp 0 -t 2 >/dev/null 2>"$T/big.err"
  small=$(tail -1 "$T/small.rss")
  big=$(tail -1 "$T/big.rss")
  check "[ '$big' -lt \$(( $small + 4096 )) ]" "peak RSS grows < 4 MB for 4x the text ($small -> $big KB)"
  check "grep -q '^level 2: ' '$T/big.err'" "24 KB needs a second level"
fi

# stdin, and a text that fits one call.
echo "Tom had a red ball. He played with it all day." |
  "$MB" summarize "$M" - --words 8 --temp 0 -c 256 >"$T/b.out" 2>"$T/b.err"
check "[ \$? -eq 0 ]" "summarize - reads stdin"
check "! grep -q '^level' '$T/b.err' && grep -q '^final:' '$T/b.err'" "a short text is one call"
check "[ \$(wc -w <'$T/b.out') -le 8 ]" "short result keeps --words 8"

"$MB" summarize "$M" "$T/missing.txt" >/dev/null 2>"$T/c.err"
check "[ \$? -ne 0 ] && grep -q 'error' '$T/c.err'" "a missing file is an error"

# --oracle: the final merge goes to a second server, redacted.
if start srv "$M" -t 1; then
  echo "Tom wrote to alice@example.org and called +44 20 7946 0958. He had a red ball." \
    >"$T/pii.txt"
  "$MB" summarize "$M" "$T/pii.txt" --words 20 --temp 0 -t 2 -c 256 \
    --oracle "http://127.0.0.1:$PORT/v1" --oracle-model stories260K >"$T/o.out" 2>"$T/o.err"
  check "[ \$? -eq 0 ]" "summarize --oracle exits 0"
  check "grep -q '^final merge: to the oracle, 2 value(s) redacted' '$T/o.err'" \
    "the final merge went to the oracle with the e-mail and phone redacted"
  check "! grep -q 'oracle failed' '$T/o.err'" "the oracle answered"
  check "[ \$(wc -w <'$T/o.out') -le 20 ]" "the oracle's result keeps --words 20"
else
  bad "the oracle server did not start: $(cat "$T/srv.log")"
fi

finish
