/* The cost of speculative decoding's verification: one forward pass over
 * K + 1 tokens (mb_session_eval_all, the pending token and K drafts)
 * against one decode step (mb_session_eval of one token), at the same
 * position after a prompt of P tokens (the cache is rewound after each
 * pass), the two alternated, the fastest of R (the least disturbed by
 * other work on a shared machine). And what that means: with each
 * draft accepted with probability a (independently), a pass yields
 * E = (1 - a^(K+1)) / (1 - a) tokens, so speculation with a free drafter
 * (prompt lookup) is E / cost(K) times as fast as plain decoding, where
 * cost(K) is the pass's time in decode steps. With --check, the largest
 * difference between a batched pass's logits and those of the same tokens
 * decoded one by one. Built with the project (target bench_spec_verify;
 * use a Release build):
 *   build/bench/spec_verify MODEL [THREADS=2] [P=256] [R=15] [--check] [--no-repack]
 * (weights reordered for the kernels as the CLI loads them, unless
 * --no-repack). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "matchbox.h"

enum { K_MAX = 8 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double fastest(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] < m) m = v[i];
    return m;
}

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, mb_last_error());
    return 1;
}

int main(int argc, char **argv) {
    /* Flags after the numbers, in any order. */
    int check = 0, repack = 1;
    while (argc > 2 && argv[argc - 1][0] == '-') {
        if (!strcmp(argv[argc - 1], "--check"))
            check = 1;
        else if (!strcmp(argv[argc - 1], "--no-repack"))
            repack = 0;
        else
            break;
        argc--;
    }
    if (argc < 2) {
        fprintf(stderr,
                "usage: spec_verify MODEL [THREADS=2] [P=256] [R=15] [--check] [--no-repack]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, p = argc > 3 ? atoi(argv[3]) : 256;
    int reps = argc > 4 ? atoi(argv[4]) : 15;
    if (threads < 1 || p < 1 || reps < 1) return fprintf(stderr, "bad arguments\n"), 2;
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    mp.repack = repack; /* as the CLI loads it (run, serve, bench), or --no-repack */
    if (mb_model_load(argv[1], &mp, &m)) return fail(argv[1]);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = p + K_MAX + 8;
    sp.n_threads = threads;
    mb_session *s = NULL;
    if (mb_session_new(m, &sp, &s)) return fail("session");
    const int n_vocab = mb_model_n_vocab(m);
    mb_token *toks = malloc(((size_t)p + K_MAX + 1) * sizeof *toks);
    float *logits = malloc((size_t)(K_MAX + 1) * n_vocab * sizeof *logits);
    if (!toks || !logits) return fprintf(stderr, "out of memory\n"), 1;
    srand(1);
    for (int i = 0; i < p + K_MAX + 1; i++)
        toks[i] = 3 + rand() % (n_vocab - 3);
    if (mb_session_eval(s, toks, (size_t)p)) return fail("prompt");
    double *t1 = malloc(sizeof(double) * (size_t)reps * (K_MAX + 1));
    double *tk = malloc(sizeof(double) * (size_t)reps * (K_MAX + 1));
    if (!t1 || !tk) return 1;
    /* Warm up both paths. */
    for (int w = 0; w < 3; w++) {
        if (mb_session_eval(s, toks + p, 1) || mb_session_rewind(s, p)) return fail("decode");
        if (mb_session_eval_all(s, toks + p, K_MAX + 1, logits) || mb_session_rewind(s, p))
            return fail("verify");
    }
    for (int r = 0; r < reps; r++)
        for (int k = 1; k <= K_MAX; k++) {
            double a = now();
            if (mb_session_eval(s, toks + p, 1)) return fail("decode");
            double b = now();
            mb_session_rewind(s, p);
            if (mb_session_eval_all(s, toks + p, (size_t)k + 1, logits)) return fail("verify");
            double c = now();
            mb_session_rewind(s, p);
            t1[k * reps + r] = b - a;
            tk[k * reps + r] = c - b;
        }
    printf("%s, %d threads, position %d\n", argv[1], threads, p);
    printf("| K | decode step ms | verify K+1 ms | cost (steps) | speedup at a = 0.3 / 0.5 / 0.7 "
           "/ 0.9 |\n|--:|--:|--:|--:|--:|\n");
    for (int k = 1; k <= K_MAX; k++) {
        double d = fastest(t1 + k * reps, reps), v = fastest(tk + k * reps, reps), cost = v / d;
        printf("| %d | %.2f | %.2f | %.2f |", k, d * 1e3, v * 1e3, cost);
        const double as[] = {0.3, 0.5, 0.7, 0.9};
        for (int i = 0; i < 4; i++) {
            double e = (1 - pow(as[i], k + 1)) / (1 - as[i]);
            printf("%s%.2f", i ? " / " : " ", e / cost);
        }
        printf(" |\n");
    }
    if (check) {
        /* Batched logits against one token at a time, for K + 1 = 2..9. */
        for (int kc = 1; kc <= K_MAX; kc++) {
            if (mb_session_eval_all(s, toks + p, (size_t)kc + 1, logits)) return fail("verify");
            mb_session_rewind(s, p);
            double worst = 0, spread = 0;
            int flips = 0;
            for (int i = 0; i <= kc; i++) {
                if (mb_session_eval(s, toks + p + i, 1)) return fail("decode");
                const float *l = mb_session_logits(s), *b = logits + (size_t)i * n_vocab;
                int am = 0, bm = 0;
                for (int v = 0; v < n_vocab; v++) {
                    double d = fabs((double)l[v] - b[v]);
                    if (d > worst) worst = d;
                    if (fabs(l[v]) > spread) spread = fabs(l[v]);
                    if (l[v] > l[am]) am = v;
                    if (b[v] > b[bm]) bm = v;
                }
                flips += am != bm;
            }
            printf(
                "K %d: batched vs one by one: max |logit difference| %.3g (largest |logit| %.3g), "
                "argmax differs at %d of %d positions\n",
                kc, worst, spread, flips, kc + 1);
            mb_session_rewind(s, p);
        }
    }
    free(t1);
    free(tk);
    free(toks);
    free(logits);
    mb_session_free(s);
    mb_model_free(m);
    return 0;
}
