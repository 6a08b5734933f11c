/* The benchmark harness behind `matchbox bench`: load time, prefill and
 * decode speed over repetitions, time to first token, peak RSS, and the
 * machine's read bandwidth measured in the same run, so decode speed can be
 * reported as a share of what memory allows (decode reads every weight once
 * per token). */
#ifndef MB_EVAL_BENCH_H
#define MB_EVAL_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"

typedef struct {
    int n_threads;     /* 0: physical cores */
    int n_prompt;      /* prefill test: tokens fed at once from an empty cache (0: skip) */
    int n_gen;         /* decode test: tokens generated one by one (0: skip) */
    int reps;          /* repetitions of each test, >= 1 */
    int use_mmap;      /* as mb_model_params.use_mmap: -1 auto, 0, 1 */
    uint64_t bw_bytes; /* buffer for the bandwidth test (0: skip it) */
    int n_ctx;         /* session context (0: what the tests need); sizes the KV cache */
    int swa_full;      /* windowed layers keep full caches (mb_session_params.swa_full) */
} mb_bench_params;

mb_bench_params mb_bench_default_params(void);

/* Median and spread of one measure over the repetitions. */
typedef struct {
    double median, min, max;
} mb_bench_stat;

typedef struct {
    char model_desc[160];
    const char *kernels; /* mb_kernels_name() */
    int n_threads, n_prompt, n_gen, reps;
    int uses_mmap;
    double load_seconds;
    mb_bench_stat prefill_tps, decode_tps, ttft_seconds;
    uint64_t weight_bytes;    /* all tensor data in the file */
    uint64_t bytes_per_token; /* weights read per decoded token: all but a row-lookup embedding */
    uint64_t peak_rss;        /* bytes, after the model runs and before the bandwidth test */
    double read_gbs;          /* best read bandwidth, 1e9 bytes/s; 0 if not measured */
    double decode_share;      /* bytes_per_token x median decode tok/s / read bandwidth */
    int n_ctx;                /* the session's context */
    uint64_t kv_bytes;        /* its KV cache */
    char kv_desc[384];        /* the cache per layer kind (full, windowed) */
} mb_bench_result;

/* Load PATH and run the tests. Fails with the load or evaluation's error. */
mb_status mb_bench_run(const char *path, const mb_bench_params *params, mb_bench_result *out);

/* Read bandwidth in 1e9 bytes/s: the best of REPS sums over a BYTES buffer of
 * anonymous memory, split by ranges over N_THREADS threads (a STREAM-like
 * read-only kernel). */
mb_status mb_bench_read_bandwidth(int n_threads, uint64_t bytes, int reps, double *gbs);

#endif
