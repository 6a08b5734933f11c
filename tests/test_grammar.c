/* GBNF grammars: the parser's accepted and refused texts (and its
 * messages), the matcher on whole strings, and the sampler under a
 * grammar: its mask against a token-by-token check, and generations with
 * random sampling whose text the grammar accepts. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "runtime/grammar.h"
#include "test_util.h"

static const char *JSON_GBNF =
    "# JSON, as users' llama.cpp grammars write it\n"
    "root   ::= object\n"
    "value  ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "\n"
    "object ::=\n"
    "  \"{\" ws (\n"
    "            string \":\" ws value\n"
    "    (\",\" ws string \":\" ws value)*\n"
    "  )? \"}\" ws\n"
    "\n"
    "array  ::=\n"
    "  \"[\" ws (\n"
    "            value\n"
    "    (\",\" ws value)*\n"
    "  )? \"]\" ws\n"
    "\n"
    "string ::=\n"
    "  \"\\\"\" (\n"
    "    [^\"\\\\\\x7F\\x00-\\x1F] |\n"
    "    \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}) # escapes\n"
    "  )* \"\\\"\" ws\n"
    "\n"
    "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9] "
    "[1-9]{0,15})? "
    "ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

static const char *ARITH_GBNF = "root  ::= expr\n"
                                "expr  ::= term ((\"+\" | \"-\") term)*\n"
                                "term  ::= factor ((\"*\" | \"/\") factor)*\n"
                                "factor ::= [0-9]+ | \"(\" expr \")\"\n";

static const char *LIST_GBNF = "root ::= item+\n"
                               "# one item per line\n"
                               "item ::= \"- \" [^\\n]+ \"\\n\"\n";

static mb_grammar *parse_ok(const char *text) {
    mb_grammar *g = NULL;
    mb_status st = mb_grammar_parse(text, strlen(text), NULL, &g);
    CHECK_MSG(st == MB_OK, "parse failed: %s", mb_last_error());
    return g;
}

/* Refused with MB_ERR_FORMAT and a message containing WANT. */
static void parse_fails(const char *text, const char *want) {
    mb_grammar *g = NULL;
    mb_status st = mb_grammar_parse(text, strlen(text), NULL, &g);
    CHECK_MSG(st == MB_ERR_FORMAT && !g, "'%s' parsed (status %d)", text, (int)st);
    CHECK_MSG(strstr(mb_last_error(), want), "message '%s' lacks '%s'", mb_last_error(), want);
}

/* 1 if G accepts all of TEXT, 0 if it is a prefix of something G
 * accepts, -1 if not even that. */
static int match(const mb_grammar *g, const char *text) {
    mb_garena a;
    CHECK(mb_garena_init(&a, 1 << 16, 1 << 16) == 0);
    mb_gset s = mb_gset_start(g, &a);
    mb_utf8_state u = {0, 0, 0};
    int r = 0;
    for (const char *p = text; *p && r >= 0; p++) {
        int f = mb_utf8_feed(&u, (uint8_t)*p);
        if (f < 0) r = -1;
        if (f > 0) {
            s = mb_gset_advance(g, &a, s, u.cp);
            if (!s.n && !s.complete) r = -1;
        }
    }
    CHECK(!a.overflow);
    mb_garena_free(&a);
    return r < 0 ? -1 : s.complete && u.need == 0 ? 1 : 0;
}

static void test_parse_accepts(void) {
    const char *ok[] = {
        JSON_GBNF,
        ARITH_GBNF,
        LIST_GBNF,
        "root ::= \"a\"",
        "root ::= \"\"",
        "root::=[a-z]*",
        "root ::= x\nx ::= \"\\x41\\u00e9\\U0001F600\" | [\\[\\]\\-] | .",
        "root ::= a\n   | b\na ::= \"a\"\nb ::= \"b\"", /* an alternative on the next line */
        "root ::= (\"a\" (\"b\" | \"c\")){2,} \"d\"{0,3} [^x]{3}",
        "root ::= \"é€\"",
        "root ::= ( ) \"x\""};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        mb_grammar_free(parse_ok(ok[i]));
}

static void test_parse_errors(void) {
    parse_fails("root ::= foo\n", "undefined rule 'foo'");
    parse_fails("root ::= \"a\"\n  x ::= y z\ny ::= \"\"", "line 2 col 11: undefined rule 'z'");
    parse_fails("root ::= expr\nexpr ::= expr \"+\" [0-9] | [0-9]",
                "rule 'expr' is left-recursive");
    parse_fails("root ::= a\na ::= b? a \"x\"\nb ::= \"b\"", "rule 'a' is left-recursive");
    parse_fails("root ::= \"abc", "line 1 col 10: unterminated string literal");
    parse_fails("root ::= [a-z", "unterminated character class");
    parse_fails("root ::= \"\\q\"", "unknown escape '\\q'");
    parse_fails("root ::= \"\\x4\"", "'\\x' needs 2 hex digits");
    parse_fails("root = \"a\"", "expected '::=' after 'root'");
    parse_fails("a ::= \"a\"", "no rule named 'root'");
    parse_fails("root ::= (\"a\"", "unclosed '('");
    parse_fails("root ::= \"a\")", "unmatched ')'");
    parse_fails("root ::= \"a\"{3,2}", "max below min");
    parse_fails("root ::= \"a\"{99999}", "repetition count over");
    parse_fails("root ::= [z-a]", "range end");
    parse_fails("root ::= \"a\"\nroot ::= \"b\"", "line 2 col 1: rule 'root' is defined twice");
    parse_fails("", "the grammar is empty");
    parse_fails("root ::= \"a\" @", "unexpected '@'");
    parse_fails("root ::= \"\\U00110000\"", "past U+10FFFF");
    parse_fails("root ::= \"\xff\"", "invalid UTF-8");
    /* Repetitions are expanded into copies: their total is capped. */
    parse_fails("root ::= \"abcdefghijklmnopqrstuvwxyz0123456789\"{10000} "
                "\"abcdefghijklmnopqrstuvwxyz0123456789\"{10000} "
                "\"abcdefghijklmnopqrstuvwxyz0123456789\"{10000}",
                "the grammar expands to more than");
}

static void test_match_strings(void) {
    mb_grammar *g = parse_ok(JSON_GBNF);
    CHECK_EQ_INT(match(g, "{\"a\": [1, 2.5e3, true, null, \"x\\\"y\\u00e9\"], \"b\": {}}"), 1);
    CHECK_EQ_INT(match(g, "{}"), 1);
    CHECK_EQ_INT(match(g, "{\"k\": \"\xc3\xa9\xe2\x82\xac\"}"), 1); /* UTF-8 in a string */
    CHECK_EQ_INT(match(g, "{\"a\": [1, "), 0);
    CHECK_EQ_INT(match(g, "{\"a\":}"), -1);
    CHECK_EQ_INT(match(g, "[1]"), -1);
    CHECK_EQ_INT(match(g, "{\"a\": 01}"), -1);
    CHECK_EQ_INT(match(g, "{\"a\": \"\x01\"}"), -1);
    mb_grammar_free(g);

    g = parse_ok(ARITH_GBNF);
    CHECK_EQ_INT(match(g, "1+2*(3-45)/6"), 1);
    CHECK_EQ_INT(match(g, "1+"), 0);
    CHECK_EQ_INT(match(g, "(1+2"), 0);
    CHECK_EQ_INT(match(g, "1+)"), -1);
    mb_grammar_free(g);

    g = parse_ok(LIST_GBNF);
    CHECK_EQ_INT(match(g, "- milk\n- eggs\n"), 1);
    CHECK_EQ_INT(match(g, "- milk\n-eggs\n"), -1);
    CHECK_EQ_INT(match(g, ""), 0);
    mb_grammar_free(g);

    g = parse_ok("root ::= \"a\" \"b\"{2,3} [^x-z]? \"\\u00e9\"");
    CHECK_EQ_INT(match(g, "abb\xc3\xa9"), 1);
    CHECK_EQ_INT(match(g, "abbbq\xc3\xa9"), 1);
    CHECK_EQ_INT(match(g, "ab\xc3\xa9"), -1);
    CHECK_EQ_INT(match(g, "abbbb\xc3\xa9"), 1); /* the 4th b is [^x-z] */
    CHECK_EQ_INT(match(g, "abbbbb\xc3\xa9"), -1);
    CHECK_EQ_INT(match(g, "abbx\xc3\xa9"), -1);
    mb_grammar_free(g);

    g = parse_ok("root ::= \"x\"{3}");
    CHECK_EQ_INT(match(g, "xxx"), 1);
    CHECK_EQ_INT(match(g, "xx"), 0);
    CHECK_EQ_INT(match(g, "xxxx"), -1);
    mb_grammar_free(g);

    g = parse_ok("root ::= .+ \"!\"");
    CHECK_EQ_INT(match(g, "\xf0\x9f\x98\x80 yes!"), 1);
    /* Overlong forms, surrogates and bytes past U+10FFFF are not text. */
    CHECK_EQ_INT(match(g, "\xe0\x81\xbb!"), -1);
    CHECK_EQ_INT(match(g, "\xc1\xbb!"), -1);
    CHECK_EQ_INT(match(g, "\xf0\x80\x81\xbd!"), -1);
    CHECK_EQ_INT(match(g, "\xed\xa0\x80!"), -1);
    CHECK_EQ_INT(match(g, "\xf4\x90\x80\x80!"), -1);
    CHECK_EQ_INT(match(g, "\xed\x9f\xbf!"), 1);
    mb_grammar_free(g);
}

/* An ambiguous grammar's stacks are capped, not unbounded. */
static void test_caps(void) {
    mb_grammar *g = parse_ok("root ::= x*\nx ::= \"a\" | \"a\" | \"a\" x x");
    mb_garena a;
    CHECK(mb_garena_init(&a, 1 << 16, 1 << 16) == 0);
    mb_gset s = mb_gset_start(g, &a);
    for (int i = 0; i < 40 && !a.overflow; i++)
        s = mb_gset_advance(g, &a, s, 'a');
    CHECK(s.n <= MB_GRAMMAR_MAX_STACKS);
    mb_garena_free(&a);
    mb_grammar_free(g);
}

static mb_model *tiny_model(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/grammar_tiny.gguf", mbt_tmpdir());
    mbt_tiny_model c = {.n_embd = 32,
                        .n_layer = 1,
                        .n_head = 2,
                        .n_head_kv = 2,
                        .n_ff = 64,
                        .n_ctx = 512,
                        .seed = 7};
    CHECK_OK(mbt_write_tiny_model(path, &c));
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, NULL, &m));
    return m;
}

static mb_model *shared_model(const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", mbt_shared_dir(), rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fclose(f);
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, NULL, &m));
    return m;
}

typedef struct {
    char text[8192];
    size_t len;
} text_buf;

static int on_text(const char *t, size_t n, void *user) {
    text_buf *b = user;
    if (b->len + n < sizeof b->text) memcpy(b->text + b->len, t, n), b->len += n;
    b->text[b->len] = 0;
    return 0;
}

/* The walk over sorted texts gives what a token-by-token check gives,
 * along a generation (so at many states, partial characters included). */
static void check_mask_matches(mb_model *m, const mb_grammar *g, uint64_t seed) {
    mb_gstate *st = NULL;
    CHECK_OK(mb_gstate_new(m, g, &st));
    int n = mb_model_n_vocab(m);
    uint8_t *mask = malloc((size_t)n);
    uint64_t rng = seed;
    for (int step = 0; step < 30 && !mb_gstate_ended(st); step++) {
        int count = mb_gstate_mask(st, mask), brute = 0, bad = 0;
        for (int i = 0; i < n; i++) {
            int a = mb_gstate_allows(st, i);
            brute += a;
            bad += a != mask[i];
        }
        CHECK_MSG(bad == 0 && count == brute, "step %d: %d tokens differ (%d vs %d allowed)", step,
                  bad, count, brute);
        if (!count) break;
        int pick = (int)(mbt_rand_u64(&rng) % (uint64_t)count);
        for (int i = 0; i < n; i++)
            if (mask[i] && pick-- == 0) {
                if (!mb_token_is_eog(m, i)) mb_gstate_accept(st, i);
                break;
            }
        CHECK(!st->failed);
    }
    free(mask);
    mb_gstate_free(st);
}

/* Random sampling under G: every text that ended is accepted by G, every
 * other one is a prefix of an accepted one. Returns how many ended. */
static int generate_under(mb_model *m, const mb_grammar *g, int n_runs, int n_predict) {
    int ended = 0;
    mb_session *s = mbt_session(m, 1024);
    for (int run = 0; run < n_runs; run++) {
        mb_sampler_params sp = mb_sampler_default_params();
        sp.temperature = 1.5f;
        sp.top_k = 0;
        sp.top_p = 1.0f;
        sp.min_p = 0;
        sp.seed = 1000 + (uint64_t)run;
        mb_sampler *smp = NULL;
        CHECK_OK(mb_sampler_new(&sp, mb_model_n_vocab(m), &smp));
        CHECK_OK(mb_sampler_set_grammar(smp, m, g));
        text_buf out = {{0}, 0};
        mb_generate_params gp = mb_generate_default_params();
        gp.n_predict = n_predict;
        gp.on_text = on_text;
        gp.user = &out;
        mb_generate_stats stats;
        mb_token bos = mb_token_bos(m) >= 0 ? mb_token_bos(m) : 0;
        CHECK_OK(mb_session_rewind(s, 0));
        CHECK_OK(mb_generate(s, smp, &bos, 1, &gp, &stats));
        int r = match(g, out.text);
        if (stats.stop_reason == MB_STOP_EOG) {
            ended++;
            CHECK_MSG(r == 1, "run %d ended with text the grammar refuses: '%s'", run, out.text);
        } else {
            CHECK_MSG(r >= 0, "run %d: text outside the grammar: '%s'", run, out.text);
        }
        mb_sampler_free(smp);
    }
    mb_session_free(s);
    return ended;
}

static void test_sampler_tiny(void) {
    mb_model *m = tiny_model();
    mb_grammar *g = parse_ok(JSON_GBNF);
    check_mask_matches(m, g, 1);
    generate_under(m, g, 4, 200);
    mb_grammar_free(g);

    /* A grammar that ends: every run stops by itself with yes or no. */
    g = parse_ok("root ::= \"yes\" | \"no\" | \"\\u00e9t\\u00e9\"");
    CHECK_EQ_INT(generate_under(m, g, 6, 50), 6);
    mb_grammar_free(g);
    g = parse_ok(ARITH_GBNF);
    check_mask_matches(m, g, 2);
    generate_under(m, g, 3, 100);
    mb_grammar_free(g);

    /* NULL removes the constraint; a vocabulary of another size is refused. */
    mb_sampler *smp = NULL;
    mb_sampler_params sp = mb_sampler_default_params();
    CHECK_OK(mb_sampler_new(&sp, 7, &smp));
    g = parse_ok("root ::= \"a\"");
    CHECK(mb_sampler_set_grammar(smp, m, g) == MB_ERR_INVALID_ARG);
    CHECK_OK(mb_sampler_set_grammar(smp, m, NULL));
    mb_grammar_free(g);
    mb_sampler_free(smp);
    mb_model_free(m);
}

/* Grammar states on one model share its sorted vocabulary (built once,
 * kept by the model, freed with it: ASan's leak check), also when the
 * first two are made at the same time on two threads; a state made after
 * others were freed still masks right. */
typedef struct {
    mb_model *m;
    const mb_grammar *g;
    mb_gstate *st;
} gstate_job;

static void *make_gstate(void *arg) {
    gstate_job *j = arg;
    CHECK_OK(mb_gstate_new(j->m, j->g, &j->st));
    return NULL;
}

static void test_vocab_shared(void) {
    mb_grammar *g = parse_ok(JSON_GBNF);
    mb_model *m = tiny_model();
    gstate_job jobs[2] = {{m, g, NULL}, {m, g, NULL}};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, make_gstate, &jobs[0]) == 0);
    make_gstate(&jobs[1]);
    pthread_join(th, NULL);
    CHECK(jobs[0].st && jobs[1].st && jobs[0].st->vocab == jobs[1].st->vocab);
    CHECK(jobs[0].st && (const void *)jobs[0].st->vocab == mb_model_grammar_vocab(m));
    const void *first = jobs[0].st ? (const void *)jobs[0].st->vocab : NULL;
    mb_gstate_free(jobs[0].st);
    mb_gstate_free(jobs[1].st);
    mb_gstate *st = NULL;
    CHECK_OK(mb_gstate_new(m, g, &st));
    CHECK(st && (const void *)st->vocab == first);
    mb_gstate_free(st);
    check_mask_matches(m, g, 5);
    mb_model_free(m);
    /* Another model: its own. */
    m = tiny_model();
    CHECK(mb_model_grammar_vocab(m) == NULL);
    check_mask_matches(m, g, 6);
    CHECK(mb_model_grammar_vocab(m) != NULL);
    mb_model_free(m);
    mb_grammar_free(g);
}

/* The full Llama 2 vocabulary (random weights: any token is likely). */
static void test_sampler_llama_vocab(void) {
    mb_model *m = shared_model("models/llama-2-tiny-random.gguf");
    if (!m) {
        printf("skip: llama-2-tiny-random.gguf not found\n");
        return;
    }
    mb_grammar *g = parse_ok(JSON_GBNF);
    check_mask_matches(m, g, 3);
    generate_under(m, g, 3, 200);
    mb_grammar_free(g);
    g = parse_ok(LIST_GBNF);
    check_mask_matches(m, g, 4);
    generate_under(m, g, 2, 100);
    mb_grammar_free(g);
    mb_model_free(m);
}

int main(void) {
    test_parse_accepts();
    test_parse_errors();
    test_match_strings();
    test_caps();
    test_sampler_tiny();
    test_vocab_shared();
    test_sampler_llama_vocab();
    return mbt_finish();
}
