/* The Jinja engine on its own (no ../shared, no Python): Jinja's semantics
 * where templates rely on them (scopes, loop variables, whitespace rules,
 * Python's str/repr/json.dumps), the sandbox's rules, and the limits, each
 * with its expected output written out from jinja2's documented behaviour
 * (test_chat_template_ref.sh compares with jinja2 itself on real templates). */
#include <stdlib.h>
#include <string.h>

#include "jinja/jinja.h"
#include "test_util.h"

/* Render TMPL with VARS_JSON (an object, or NULL) and LIMITS; the output or
 * the error message, in a static buffer; *ok says which. */
static const char *render(const char *tmpl, const char *vars_json, const mb_jinja_limits *lim,
                          int *ok) {
    static char result[4096];
    mb_jinja_ctx *c = mb_jinja_new();
    mb_jv *vars = NULL;
    if (vars_json) CHECK_OK(mb_jv_from_json(c, vars_json, strlen(vars_json), &vars));
    char *out = NULL;
    size_t n = 0;
    mb_status st = mb_jinja_render(c, tmpl, strlen(tmpl), vars, lim, &out, &n);
    *ok = st == MB_OK;
    snprintf(result, sizeof result, "%s", st == MB_OK ? out : mb_last_error());
    free(out);
    mb_jinja_free(c);
    return result;
}

static void expect(const char *tmpl, const char *vars, const char *want) {
    int ok;
    const char *got = render(tmpl, vars, NULL, &ok);
    CHECK_MSG(ok && strcmp(got, want) == 0, "%s\n  got  [%s]\n  want [%s]", tmpl, got, want);
}

static void expect_error(const char *tmpl, const char *vars, const mb_jinja_limits *lim,
                         const char *part) {
    int ok;
    const char *got = render(tmpl, vars, lim, &ok);
    CHECK_MSG(!ok && strstr(got, part), "%s\n  got  [%s] (ok %d)\n  want an error with [%s]", tmpl,
              got, ok, part);
}

int main(void) {
    /* Scopes: a for body's set stays in the loop; namespace() carries out. */
    expect("{% set n = 0 %}{% for i in range(3) %}{% set n = n + 1 %}{{ n }}{% endfor %}{{ n }}",
           NULL, "1110");
    expect("{% set ns = namespace(n=0) %}{% for i in [1,2,3] %}{% set ns.n = ns.n + i %}"
           "{% endfor %}{{ ns.n }}",
           NULL, "6");
    expect("{% for x in 'ab' %}{{ loop.index }}{{ x }}{{ loop.last }}{% else %}none{% endfor %}",
           NULL, "1aFalse2bTrue");
    expect("{% for x in [] %}x{% else %}empty{% endfor %}", NULL, "empty");
    expect("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
           "{\"d\": {\"b\": 1, \"a\": 2}}", "b=1;a=2;");
    expect("{% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.length }}{% endfor %}", NULL,
           "2242");
    /* trim_blocks and lstrip_blocks, "-" and "+". */
    expect("{% if true %}\n  yes\n{% endif %}\n", NULL, "  yes\n");
    expect("a\n    {% if true %}b{% endif %}", NULL, "a\nb");
    expect("a  {{- ' b ' -}}  c", NULL, "a b c");
    expect("x\n  {%+ if true %}y{% endif %}", NULL, "x\n  y");
    /* Python's str and repr, json.dumps as Hugging Face calls it. */
    expect("{{ [1, 'a', none, true, 1.5, {'k': 'v'}] }}", NULL,
           "[1, 'a', None, True, 1.5, {'k': 'v'}]");
    expect("{{ {'a': [1, 2], 'é': 'ü\"'}|tojson }}", NULL, "{\"a\": [1, 2], \"é\": \"ü\\\"\"}");
    expect("{{ {'a': 1}|tojson(indent=2) }}", NULL, "{\n  \"a\": 1\n}");
    expect("{{ 'é'|tojson(ensure_ascii=true) }}", NULL, "\"\\u00e9\"");
    expect("{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 3 / 2 }} {{ -7 // 2 }} {{ 7 % -3 }}", NULL,
           "0.30000000000000004 1e+16 1.5 -4 -2");
    /* Filters, tests, methods, slices. */
    expect("{{ '  Hi  '|trim }}|{{ 'a,b,c'.split(',')|join('-') }}|{{ 'abc'[::-1] }}|"
           "{{ 'héllo'|length }}|{{ 'héllo'[1:3] }}",
           NULL, "Hi|a-b-c|cba|5|él");
    expect("{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }}",
           "{\"msgs\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"x\", \"content\": "
           "\"b\"}, {\"role\": \"user\", \"content\": \"c\"}]}",
           "a,c");
    expect("{{ x is defined }}{{ y is none }}{{ 'ab' is string }}{{ {} is mapping }}{{ "
           "y|default('d') }}",
           "{\"x\": 1}", "TrueFalseTrueTrued");
    expect("{% macro f(a, b=2) %}[{{ a }}{{ b }}]{% endmacro %}{{ f(1) }}{{ f(b=3, a=4) }}", NULL,
           "[12][43]");
    expect("{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}in{% endcall %}", NULL,
           "<in>");
    expect("{% set t %}  body  {% endset %}[{{ t|trim }}]{% filter upper %}up{% endfilter %}", NULL,
           "[body]UP");
    expect("{% generation %}kept{% endgeneration %}", NULL, "kept");
    /* sort: stable, case-insensitive by default, by attribute, reversed;
     * O(n log n) (reversed input of 60000 took minutes with an insertion sort). */
    expect("{{ ['b', 'A', 'a', 'B']|sort|join }}|{{ [3, 1, 2]|sort(reverse=true)|join }}|"
           "{{ [{'n': 2}, {'n': 1}]|sort(attribute='n')|map(attribute='n')|join }}|"
           "{{ {'b': 1, 'a': 2}|dictsort|first }}",
           NULL, "AabB|321|12|('a', 2)");
    expect("{{ (range(60000)|reverse|list|sort)[59999] }}", NULL, "59999");
    expect("{{ {'b': 1, 'a': 2, 'c': 0}|tojson(sort_keys=true) }}", NULL,
           "{\"a\": 2, \"b\": 1, \"c\": 0}");
    /* The sandbox: values are immutable; generators are not lists. */
    expect_error("{% set l = [] %}{{ l.append(1) }}", NULL, NULL, "unsafe");
    expect_error("{{ [1]|map('string')|tojson }}", NULL, NULL, "not JSON serializable");
    expect("{{ ('a'|safe) + '<b>' }}", NULL, "a&lt;b&gt;");
    /* Errors name the line; raise_exception gives the template's message. */
    expect_error("line 1\n{{ x.y }}", NULL, NULL, "template line 2: 'x' is undefined");
    expect_error("{{ raise_exception('No system role') }}", NULL, NULL, "No system role");
    expect_error("{% if x %}", NULL, NULL, "endif");
    expect_error("{% include 'other' %}", NULL, NULL, "not supported");
    expect_error("{{ 9223372036854775807 + 1 }}", NULL, NULL, "overflow");
    /* Limits: output, steps, memory. */
    mb_jinja_limits small = {.max_output = 100};
    expect_error("{% for i in range(1000) %}xxxxxxxx{% endfor %}", NULL, &small,
                 "exceed 100 bytes");
    mb_jinja_limits steps = {.max_steps = 1000};
    expect_error("{% for i in range(100000) %}{% endfor %}", NULL, &steps, "steps");
    mb_jinja_limits mem = {.max_memory = 4 << 20};
    expect_error("{% set ns = namespace(s='x') %}{% for i in range(20000) %}"
                 "{% set ns.s = ns.s ~ ns.s[:500] %}{% endfor %}",
                 NULL, &mem, "MiB of values");
    mb_jinja_limits depth = {.max_depth = 10};
    expect_error("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", NULL, &depth,
                 "deeper than 10");
    /* Deep expressions inside recursing macros: bounded together, not
     * only each on its own (150 nested operators per call overflowed the
     * stack under ASan before the 64 calls were reached). */
    char deep[256] = "{% macro f(n) %}{{ ";
    memset(deep + strlen(deep), '+', 150);
    strcpy(deep + strlen("{% macro f(n) %}{{ ") + 150, "f(n) }}{% endmacro %}{{ f(1) }}");
    expect_error(deep, NULL, NULL, "counting macro calls");
    /* strftime_now sees a fixed time when asked to. */
    mb_jinja_limits now = {.now = "2024-07-26T10:00:00"};
    int ok;
    const char *got = render("{{ strftime_now('%d %b %Y') }}", NULL, &now, &ok);
    CHECK_MSG(ok && !strcmp(got, "26 Jul 2024"), "%s", got);
    /* JSON variables: bad input is an error naming where. */
    mb_jinja_ctx *c = mb_jinja_new();
    mb_jv *v = NULL;
    CHECK(mb_jv_from_json(c, "{\"a\": [1, }", 11, &v) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "byte") != NULL);
    mb_jinja_free(c);
    return mbt_finish();
}
