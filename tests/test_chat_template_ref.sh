#!/usr/bin/env bash
# `matchbox chat-template` renders every real chat template in
# $SHARED/templates byte-identically to Hugging Face's rendering (python3-jinja2
# through tests/jinja_ref.py), for the conversations in tests/data/chat, with
# and without tools, enable_thinking true/false where a template reads it, and
# with and without the generation prompt; or both fail, matchbox with the
# template's own message where the template raised one (raise_exception).
#
# Usage: test_chat_template_ref.sh [MATCHBOX [SHARED]]   (ctest passes both)
#   MATCHBOX_SHARED overrides SHARED (as for the C tests).
#   CHAT_REF_ONLY=1: the reference side only: counts, and which cases raise
#     and why (no matchbox needed).
#   CHAT_REF_KEEP=DIR keeps the cases and the outputs (DIR/ref, DIR/mb).
#   CHAT_REF_FILTER=REGEX runs only the cases whose id
#     (TEMPLATE@CONVERSATION@VARIANT) matches.
# Skips (exit 77) when the templates, /usr/bin/python3 with jinja2, or the
# chat-template command are absent.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
MB=${1:-$root/build/bin/matchbox}
SHARED=${MATCHBOX_SHARED:-${2:-$root/../shared}}
PY=/usr/bin/python3
REF=$here/jinja_ref.py
DATA=$here/data/chat
NOW=2026-01-02T03:04:05
ref_only=${CHAT_REF_ONLY:-0}

if ! ls "$SHARED"/templates/*.jinja >/dev/null 2>&1; then
  echo "SKIP: no templates in $SHARED/templates (set MATCHBOX_SHARED)"
  exit 77
fi
if ! "$PY" -c 'import jinja2' 2>/dev/null; then
  echo "SKIP: $PY cannot import jinja2 (apt-get install python3-jinja2; see scripts/install-deps)"
  exit 77
fi
if [ "$ref_only" != 1 ] && ! "$MB" chat-template --help >/dev/null 2>&1; then
  echo "SKIP: '$MB chat-template --help' fails (the command is not implemented yet)"
  exit 77
fi

if [ -n "${CHAT_REF_KEEP:-}" ]; then
  T=$CHAT_REF_KEEP
  rm -rf "$T/ref" "$T/mb" "$T/cases"
else
  T=$(mktemp -d)
  trap 'rm -rf "$T"' EXIT
fi
mkdir -p "$T/ref" "$T/mb"

# The cases, one a line: "ID<TAB>arg<TAB>arg...", ID = TEMPLATE@CONV@VARIANT;
# the arguments are the same for jinja_ref.py and `matchbox chat-template`.
# (Few processes: forks are what costs here.)
common=$'--now\t'"$NOW"$'\t--var\tbos_token=<s>\t--var\teos_token=</s>'
tools_arg=$'\t--tools\t'"$DATA/tools.json"
nogen_convs=" ends_with_assistant tool_call_with_text "
think_convs=" system_multiturn single_user ends_with_assistant reasoning_content think_in_content tool_call_dict_args tool_calls_parallel "
# firefunction-v2 reads `functions` (its tools as JSON text: a JSON string
# literal, which --var parses to the string) and `datetime` (a string).
functions='"[{\"name\": \"get_weather\", \"description\": \"Get the current weather.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\"}}}}]"'
functions_arg=$'\t--var\t'"functions=$functions"$'\t--var\tdatetime=2026-01-02 03:04'
filter=${CHAT_REF_FILTER:-}
for tpl in "$SHARED"/templates/*.jinja; do
  tn=${tpl##*/}
  tn=${tn%.jinja}
  src=$(<"$tpl")
  for conv in "$DATA"/*.json; do
    cn=${conv##*/}
    cn=${cn%.json}
    [ "$cn" = tools ] && continue
    base=$'--file\t'"$tpl"$'\t--messages\t'"$conv"$'\t'"$common"
    c=("plain" "$base")
    # A template that never names `tools` cannot render them.
    [[ $src == *tools* ]] && c+=("tools" "$base$tools_arg")
    [[ $nogen_convs == *" $cn "* ]] && c+=("nogen" "$base"$'\t--no-generation-prompt')
    if [[ $src == *enable_thinking* && $think_convs == *" $cn "* ]]; then
      c+=("think_on" "$base"$'\t--var\tenable_thinking=true')
      c+=("think_off" "$base"$'\t--var\tenable_thinking=false')
      [[ $cn == tool* ]] && c+=("tools_think_off" "$base$tools_arg"$'\t--var\tenable_thinking=false')
    fi
    # granite-3.3 and DeepSeek-V3.1/V4 read a `thinking` switch.
    [[ $src =~ (if|and|or|not)\ +thinking[^a-z_] && $think_convs == *" $cn "* ]] &&
      c+=("thinking_var" "$base"$'\t--var\tthinking=true')
    [[ $src =~ \+\ *functions[^a-z_] ]] && c+=("functions" "$base$functions_arg")
    for ((i = 0; i < ${#c[@]}; i += 2)); do
      id="$tn@$cn@${c[i]}"
      [ -n "$filter" ] && ! [[ $id =~ $filter ]] && continue
      printf '%s\t%s\n' "$id" "${c[i + 1]}"
    done
  done
done >"$T/cases"

# The reference: all cases in one python process.
if ! "$PY" "$REF" --batch "$T/cases" --out "$T/ref"; then
  echo "FAIL: $REF --batch failed"
  exit 1
fi
if [ "$ref_only" = 1 ]; then
  "$PY" "$REF" --report "$T/cases" "$T/ref"
  exit
fi

# matchbox: one process per case, the cases split across a few shells; a CPU
# limit (ulimit -t) ends a case that loops forever.
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 8 ] && jobs=8
for ((s = 0; s < jobs; s++)); do
  (
    n=0
    while IFS=$'\t' read -r -a a; do
      if [ $((n++ % jobs)) -eq "$s" ]; then
        (ulimit -t 20; exec "$MB" chat-template "${a[@]:1}") \
          >"$T/mb/${a[0]}.out" 2>"$T/mb/${a[0]}.err" </dev/null
        echo $? >"$T/mb/${a[0]}.rc"
      fi
    done <"$T/cases"
  ) 2>/dev/null & # (the shell's own "Segmentation fault" notes: reported below)
done
wait

# Compare (one python process): a line per failing case, the count of cases
# that raised in both, "N passed, M failed"; non-zero exit if M > 0.
"$PY" "$REF" --compare "$T/cases" "$T/ref" "$T/mb"
