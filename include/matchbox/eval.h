/* matchbox/eval.h: measuring a model. Perplexity and KL divergence on a
 * text, computed as llama.cpp's perplexity tool computes them so the numbers
 * compare (docs/QUALITY.md), and the benchmark harness behind `matchbox
 * bench` (prefill and decode speed, time to first token, load time, peak
 * RSS and decode's share of the machine's read bandwidth).
 *
 * Both entry points are long-running and single-threaded from the caller's
 * side (they start their own worker threads); calls on different models may
 * run concurrently on different threads. On failure mb_last_error() on the
 * calling thread says why. */
#ifndef MATCHBOX_EVAL_H
#define MATCHBOX_EVAL_H

#include <stdint.h>

#include <matchbox.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- perplexity and KL divergence ------------------------------------ */

/* Called after each chunk with its 1-based number, the number of chunks and
 * the running perplexity over the chunks so far. */
typedef void (*mb_perplexity_progress_cb)(int chunk, int n_chunks, double ppl, void *user);

typedef struct {
    int n_ctx;                          /* tokens per chunk (default 512; at least 4) */
    int n_chunks;                       /* <= 0 (default): as many as the text has */
    int n_threads;                      /* 0 (default): the number of physical cores */
    const char *kld_base_write;         /* non-NULL: write the base log-probabilities here */
    const char *kld_base_read;          /* non-NULL: compare against this base (KL divergence) */
    mb_perplexity_progress_cb progress; /* NULL (default): no progress */
    void *progress_user;                /* passed to progress */
    int swa_full; /* windowed layers keep full caches (no effect on results) */
    /* The KV cache's types (mb_session_params.kv_type_k / kv_type_v;
     * default MB_KV_TYPE_F16): with kld_base_read, the divergence a
     * quantized cache adds to an F16 base. */
    uint32_t kv_type_k, kv_type_v;
} mb_perplexity_params;

/* The defaults above. New fields get a default here, so callers that start
 * from this function keep compiling and behaving as before. */
MB_API mb_perplexity_params mb_perplexity_default_params(void);

enum { MB_PERPLEXITY_N_PCT = 13 };
/* The percentiles reported for KLD and delta-p, in this order:
 * 100 99.9 99 95 90 75 50 25 10 5 1 0.1 0 (100 is the maximum, 0 the
 * minimum). Constant; safe from any thread. */
MB_API extern const double mb_perplexity_pct[MB_PERPLEXITY_N_PCT];

typedef struct {
    int n_tokens;      /* tokens in the text (BOS included) */
    int n_chunks;      /* chunks evaluated */
    uint64_t n_scored; /* tokens scored */
    double ppl, ppl_err;
    /* with kld_base_read only: */
    int has_kld;
    double ppl_base, ppl_base_err;
    /* mean over tokens of NLL(model) - NLL(base) = ln(PPL(Q)/PPL(base)),
     * with the standard error of that paired mean (llama.cpp's
     * "Mean ln(PPL(Q)/PPL(base))"): the test of whether the two differ */
    double ln_ratio, ln_ratio_err;
    double kld, kld_err;
    double top1, top1_err;               /* share of positions with the same argmax */
    double dp_mean, dp_err, dp_rms;      /* p_model(right) - p_base(right) */
    double kld_pct[MB_PERPLEXITY_N_PCT]; /* percentiles of the per-token KLD */
    double dp_pct[MB_PERPLEXITY_N_PCT];  /* percentiles of delta-p */
} mb_perplexity_result;

/* Perplexity of MODEL on TEXT (LEN bytes, not necessarily NUL-terminated):
 *
 * - the whole text is tokenized once, with BOS if the vocabulary adds one;
 * - it is cut into chunks of n_ctx tokens; each chunk is evaluated from an
 *   empty cache, its first token replaced by BOS;
 * - only the second half of each chunk is scored (every scored token has at
 *   least n_ctx/2 tokens of context);
 * - PPL = exp(mean NLL), its error PPL times the standard error of the mean.
 *
 * With kld_base_write, the log-probabilities of the scored positions are
 * saved to that file (atomically: it appears only when the run succeeds;
 * docs/QUALITY.md has its layout). With kld_base_read, they are compared
 * against such a file written from the same text and n_ctx by another model
 * (the base decides the chunk count; n_chunks may only lower it): *OUT then
 * has has_kld set and the KLD fields filled.
 *
 * The model is only read (sessions of its own are created and freed); do
 * not call mb_model_load_lora on it meanwhile. PARAMS may be NULL for the
 * defaults. *OUT is zeroed first; on failure (a text shorter than two
 * chunks, a base file that does not match, I/O) it holds what was counted so
 * far and no base file is left behind. */
MB_API mb_status mb_perplexity(mb_model *model, const char *text, size_t len,
                               const mb_perplexity_params *params, mb_perplexity_result *out);

/* ---- the benchmark harness ------------------------------------------- */

typedef struct {
    int n_threads; /* 0 (default): physical cores */
    int n_prompt;  /* prefill test: tokens fed at once from an empty cache (default 512; 0: skip) */
    int n_gen;     /* decode test: tokens generated one by one (default 128; 0: skip) */
    int reps;      /* repetitions of each test, >= 1 (default 5) */
    int use_mmap;  /* as mb_model_params.use_mmap: -1 (default) auto, 0, 1 */
    uint64_t bw_bytes; /* buffer for the bandwidth test (default 1 GiB; 0: skip it) */
    int n_ctx;         /* session context (0, default: what the tests need); sizes the KV cache */
    int swa_full;      /* windowed layers keep full caches (mb_session_params.swa_full) */
    uint32_t kv_type_k, kv_type_v; /* the KV cache's types (default MB_KV_TYPE_F16) */
    uint64_t mem_budget;           /* mb_model_params.mem_budget (0, default: none) */
    int repack; /* mb_model_params.repack (since 0.5; default 1: what matchbox run does) */
} mb_bench_params;

/* The defaults above; new fields get a default here. */
MB_API mb_bench_params mb_bench_default_params(void);

/* Median and spread of one measure over the repetitions. */
typedef struct {
    double median, min, max;
} mb_bench_stat;

typedef struct {
    char model_desc[160];
    const char *kernels; /* mb_kernels_name(): a static string */
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
    /* Under a memory budget: the plan and the counters at the end, and what
     * decoding read from the file per token (layers, embedding rows,
     * experts) with the expert cache's hit rate over the decode tests. */
    mb_stream_stats stream;
    uint64_t decode_read_per_token;
    double decode_expert_hit_rate;
} mb_bench_result;

/* Load the model at PATH and run the tests PARAMS (NULL: defaults) ask for:
 * prefill and decode from an empty cache, REPS times each, then the read
 * bandwidth. Everything it loads is freed before it returns. Fails with the
 * load or evaluation's error, or MB_ERR_INVALID_ARG for parameters out of
 * range; *OUT is then partly filled. Run one at a time: the timings of two
 * concurrent runs disturb each other (and peak RSS is the process's). */
MB_API mb_status mb_bench_run(const char *path, const mb_bench_params *params,
                              mb_bench_result *out);

/* Read bandwidth in 1e9 bytes/s into *GBS: the best of REPS sums over a
 * BYTES buffer of anonymous memory, split by ranges over N_THREADS threads
 * (a STREAM-like read-only kernel). The buffer is freed before it returns. */
MB_API mb_status mb_bench_read_bandwidth(int n_threads, uint64_t bytes, int reps, double *gbs);

#ifdef __cplusplus
}
#endif

#endif
