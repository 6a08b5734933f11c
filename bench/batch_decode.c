/* Decode throughput of N sessions of one model: each session decoding its
 * own token in turn (mb_session_eval) against all of them in one
 * mb_batch_decode pass, on the same threads and at the same positions (the
 * cache is rewound between the two), best of 3. This is the gain the
 * server's batched slots can give, without HTTP around it.
 * Built with the project (target bench_batch_decode; use a Release build):
 *   build/bench/batch_decode MODEL [SESSIONS=4] [THREADS=1] [STEPS=64] [--no-repack]
 * (--no-repack: the file's layout, as serve --no-repack). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "matchbox.h"

enum { MAX_SESSIONS = 64, PROMPT = 4 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(const char *what) {
    fprintf(stderr, "error: %s: %s\n", what, mb_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const int no_repack = argc > 2 && !strcmp(argv[argc - 1], "--no-repack");
    if (no_repack) argc--;
    if (argc < 2) {
        fputs("usage: batch_decode MODEL [SESSIONS=4] [THREADS=1] [STEPS=64] [--no-repack]\n",
              stderr);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 4, threads = argc > 3 ? atoi(argv[3]) : 1;
    int steps = argc > 4 ? atoi(argv[4]) : 64;
    if (n < 1 || n > MAX_SESSIONS || threads < 1 || steps < 1 || steps > 4000) {
        fputs("SESSIONS 1..64, THREADS >= 1, STEPS 1..4000\n", stderr);
        return 2;
    }
    mb_model_params mp = mb_model_default_params();
    mp.repack = !no_repack; /* as serve loads it: weights reordered for the kernels */
    mb_model *m = NULL;
    if (mb_model_load(argv[1], &mp, &m)) return fail(argv[1]);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = steps + PROMPT + 1;
    sp.n_threads = threads;
    mb_session *s[MAX_SESSIONS] = {0};
    mb_token ids[MAX_SESSIONS];
    int n_vocab = mb_model_n_vocab(m);
    for (int i = 0; i < n; i++) {
        mb_token prompt[PROMPT] = {1, (7 * i + 3) % n_vocab, (11 * i + 5) % n_vocab, 9 % n_vocab};
        if (mb_session_new(m, &sp, &s[i]) || mb_session_eval(s[i], prompt, PROMPT))
            return fail("session");
        ids[i] = (mb_token)((13 * i + 17) % n_vocab);
    }
    mb_batch *b = NULL;
    if (mb_batch_new(m, n, sp.n_ctx, threads, &b)) return fail("batch");
    double best_alone = 1e30, best_batch = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int k = 0; k < steps; k++)
            for (int i = 0; i < n; i++)
                if (mb_session_eval(s[i], &ids[i], 1)) return fail("eval");
        double t1 = now();
        for (int i = 0; i < n; i++)
            mb_session_rewind(s[i], PROMPT);
        double t2 = now();
        for (int k = 0; k < steps; k++)
            if (mb_batch_decode(b, s, ids, n)) return fail("batch decode");
        double t3 = now();
        for (int i = 0; i < n; i++)
            mb_session_rewind(s[i], PROMPT);
        best_alone = t1 - t0 < best_alone ? t1 - t0 : best_alone;
        best_batch = t3 - t2 < best_batch ? t3 - t2 : best_batch;
    }
    double tok = (double)n * steps;
    printf("%s: %d sessions x %d steps, %d threads: one at a time %.1f tok/s, batched %.1f "
           "tok/s (%.2fx)\n",
           mb_model_desc(m), n, steps, threads, tok / best_alone, tok / best_batch,
           best_alone / best_batch);
    mb_batch_free(b);
    for (int i = 0; i < n; i++)
        mb_session_free(s[i]);
    mb_model_free(m);
    return 0;
}
