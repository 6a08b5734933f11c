/* The per-token cost of a grammar in the sampler: mb_sampler_sample with
 * and without a JSON grammar, on a model's vocabulary, over a generation
 * of STEPS tokens. Two kinds of logits: random ones (a model that ignores
 * the format: outside strings the drawn token is mostly refused and the
 * step masks the vocabulary), ones that favour allowed tokens (a model
 * that follows the format: the drawn token is checked and kept), and ones
 * that favour refused tokens (every step masks). "with
 * grammar" is what a generation pays per token (the check, and the mask
 * when the drawn token is refused: its cache of recent states' masks
 * included); "one mask, uncached" is one walk over the vocabulary. The model is
 * loaded vocabulary-only, so a vocab-only GGUF works.
 *
 *   build/bench/grammar_mask MODEL [STEPS=200] [SEED=1]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "matchbox.h"
#include "runtime/grammar.h"

static const char *JSON_GBNF =
    "root ::= object\n"
    "value ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
    "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
    "array ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
    "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" "
    "[0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
    "number ::= \"-\"? ([0-9] | [1-9] [0-9]{0,15}) (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)? ws\n"
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 1;
static float uniform(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)(rng >> 40) / (float)(1 << 24);
}

/* Run STEPS samples with and without the grammar; FOLLOW 1: logits +8 on
 * the allowed tokens (found untimed), 2: on the refused ones. Prints ms
 * per token. */
static void run(const mb_model *m, const mb_grammar *g, int steps, int follow) {
    int n = mb_model_n_vocab(m);
    mb_sampler_params sp = mb_sampler_default_params();
    sp.seed = 7;
    mb_sampler *plain = NULL, *con = NULL;
    if (mb_sampler_new(&sp, n, &plain) || mb_sampler_new(&sp, n, &con)) exit(1);
    double t0 = now();
    if (mb_sampler_set_grammar(con, m, g)) {
        fprintf(stderr, "%s\n", mb_last_error());
        exit(1);
    }
    double t_setup = now() - t0;
    mb_gstate *probe = NULL;
    if (mb_gstate_new(m, g, &probe)) exit(1);
    probe->cache_off = 1; /* its masks time the walk over the vocabulary */
    float *logits = malloc((size_t)n * sizeof *logits);
    /* Tokens that may close the object: "follows" leaves them unfavoured,
     * so that its generation runs all STEPS. */
    uint8_t *closes = calloc((size_t)n, 1);
    for (int i = 0; i < n; i++) {
        char piece[256];
        size_t len = 0;
        if (!mb_token_to_piece(m, i, 0, piece, sizeof piece, &len) && memchr(piece, '}', len))
            closes[i] = 1;
    }
    uint8_t *allowed = malloc((size_t)n);
    double t_plain = 0, t_con = 0, t_mask = 0;
    int done = 0, n_mask = 0;
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n; i++)
            logits[i] = 5.0f * uniform();
        double a = now();
        int cnt = mb_gstate_mask(probe, allowed);
        t_mask += now() - a, n_mask++;
        if (!cnt) break;
        /* follows: the allowed tokens but the end are likely; refuses:
         * the refused ones are (every draw is refused: each step masks). */
        for (int i = 0; i < n && follow; i++)
            if (follow == 1 ? allowed[i] && !closes[i] && !mb_token_is_eog(m, i) : !allowed[i])
                logits[i] += 8.0f;
        a = now();
        mb_sampler_sample(plain, logits);
        t_plain += now() - a;
        a = now();
        mb_token t = mb_sampler_sample(con, logits);
        t_con += now() - a;
        done++;
        if (t < 0 || mb_token_is_eog(m, t)) break; /* the grammar ended */
        mb_gstate_accept(probe, t);
    }
    printf("%-8s %6d tokens | set_grammar %.1f ms | sample: plain %.3f ms, with grammar %.3f ms "
           "| one mask, uncached %.3f ms\n",
           follow == 1   ? "follows"
           : follow == 2 ? "refuses"
                         : "random",
           done, 1e3 * t_setup, 1e3 * t_plain / done, 1e3 * t_con / done, 1e3 * t_mask / n_mask);
    free(logits);
    free(allowed);
    free(closes);
    mb_gstate_free(probe);
    mb_sampler_free(plain);
    mb_sampler_free(con);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [STEPS=200] [SEED=1]\n", argv[0]);
        return 2;
    }
    int steps = argc > 2 ? atoi(argv[2]) : 200;
    rng = argc > 3 ? (uint64_t)atoll(argv[3]) : 1;
    mb_model_params mp = mb_model_default_params();
    mp.vocab_only = 1;
    mb_model *m = NULL;
    mb_grammar *g = NULL;
    if (mb_model_load(argv[1], &mp, &m) ||
        mb_grammar_parse(JSON_GBNF, strlen(JSON_GBNF), NULL, &g)) {
        fprintf(stderr, "%s\n", mb_last_error());
        return 1;
    }
    printf("%s: vocabulary %d, JSON grammar, default sampler (top-k 40, top-p 0.95, min-p 0.05)\n",
           argv[1], mb_model_n_vocab(m));
    /* The first grammar on a model sorts its vocabulary, which the model
     * keeps: the rows below are what every later request pays. */
    mb_sampler_params sp = mb_sampler_default_params();
    mb_sampler *first = NULL;
    if (mb_sampler_new(&sp, mb_model_n_vocab(m), &first)) return 1;
    double t0 = now();
    if (mb_sampler_set_grammar(first, m, g)) {
        fprintf(stderr, "%s\n", mb_last_error());
        return 1;
    }
    printf("first set_grammar on this model (sorts the vocabulary): %.1f ms\n", 1e3 * (now() - t0));
    mb_sampler_free(first);
    run(m, g, steps, 0);
    run(m, g, steps, 1);
    run(m, g, steps, 2);
    mb_grammar_free(g);
    mb_model_free(m);
    return 0;
}
