/* The benchmark harness: prefill and decode measured from an empty cache,
 * as llama-bench does (pp: N_PROMPT tokens in one eval; tg: N_GEN tokens one
 * at a time), so the figures compare with the reference's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/error.h"
#include "core/timer.h"
#include "matchbox/eval.h"
#include "model/forward.h"
#include "model/model.h"
#include "runtime/session.h"

mb_bench_params mb_bench_default_params(void) {
    return (mb_bench_params){.n_threads = 0,
                             .n_prompt = 512,
                             .n_gen = 128,
                             .reps = 5,
                             .use_mmap = -1,
                             .bw_bytes = (uint64_t)1 << 30,
                             .kv_type_k = MB_KV_TYPE_F16,
                             .kv_type_v = MB_KV_TYPE_F16,
                             .repack = 1};
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static mb_bench_stat summarize(double *v, int n) {
    mb_bench_stat s = {0, 0, 0};
    if (n <= 0) return s;
    qsort(v, (size_t)n, sizeof *v, by_value);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

/* Decode reads every matrix once per token. The token embedding is a row
 * lookup, unless the output projection shares it (tied embeddings): then all
 * of it is read too. */
static uint64_t bytes_per_token(const mb_model *m) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const mb_gguf_tensor *t = &m->gguf->tensors[i];
        if (strcmp(t->name, "token_embd.weight") == 0 && m->output.data != m->tok_embd.data)
            continue;
        total += t->nbytes;
    }
    return total;
}

static uint64_t peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024; /* KiB on Linux */
}

typedef struct {
    double *pp, *tg, *ttft;
    mb_token *ids;
    /* Decode's reads under a memory budget, summed over the repetitions. */
    uint64_t read, hits, misses, tokens;
} bench_bufs;

/* Deterministic token ids spread over the vocabulary, as llama-bench feeds
 * random ones: the speed must not depend on the text. */
static void fill_ids(mb_token *ids, int n, int n_vocab) {
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (mb_token)(x % (uint64_t)n_vocab);
    }
}

/* One repetition: prefill (and the first sampled token), then decode. */
static mb_status run_once(mb_session *s, mb_sampler *smp, bench_bufs *b, int rep,
                          const mb_bench_params *p) {
    mb_status st;
    if (p->n_prompt > 0) {
        if ((st = mb_session_rewind(s, 0))) return st;
        double t0 = mb_now();
        if ((st = mb_session_eval(s, b->ids, (size_t)p->n_prompt))) return st;
        double t1 = mb_now();
        (void)mb_sampler_sample(smp, mb_session_logits(s));
        double t2 = mb_now();
        b->pp[rep] = p->n_prompt / (t1 - t0 > 0 ? t1 - t0 : 1e-9);
        b->ttft[rep] = t2 - t0;
    }
    if (p->n_gen > 0) {
        if ((st = mb_session_rewind(s, 0))) return st;
        mb_token id = b->ids[0];
        mb_stream_stats s0, s1;
        mb_model_stream_stats(s->model, &s0);
        double t0 = mb_now();
        for (int i = 0; i < p->n_gen; i++) {
            if ((st = mb_session_eval(s, &id, 1))) return st;
            id = mb_sampler_sample(smp, mb_session_logits(s));
        }
        double dt = mb_now() - t0;
        b->tg[rep] = p->n_gen / (dt > 0 ? dt : 1e-9);
        mb_model_stream_stats(s->model, &s1);
        b->read += s1.bytes_read - s0.bytes_read;
        b->hits += s1.expert_hits - s0.expert_hits;
        b->misses += s1.expert_misses - s0.expert_misses;
        b->tokens += (uint64_t)p->n_gen;
    }
    return MB_OK;
}

/* Warm-up: fault in the weights and buffers and wake the workers once, so
 * the first repetition measures the same thing as the others. */
static mb_status warm_up(mb_session *s, bench_bufs *b, const mb_bench_params *p) {
    mb_status st;
    int n = p->n_prompt < 64 ? p->n_prompt : 64;
    if (n > 0 && (st = mb_session_eval(s, b->ids, (size_t)n))) return st;
    if ((st = mb_session_rewind(s, 0))) return st;
    return mb_session_eval(s, b->ids, 1);
}

static mb_status run_tests(mb_model *m, const mb_bench_params *p, mb_bench_result *r) {
    mb_session_params sp = mb_session_default_params();
    sp.n_threads = p->n_threads;
    int need = (p->n_prompt > p->n_gen ? p->n_prompt : p->n_gen) + 1;
    sp.n_ctx = p->n_ctx > need ? p->n_ctx : need;
    sp.swa_full = p->swa_full;
    sp.kv_type_k = p->kv_type_k;
    sp.kv_type_v = p->kv_type_v;
    mb_sampler_params smp_p = mb_sampler_default_params();
    smp_p.temperature = 0; /* greedy: the cheapest sampler, as decode loops use */
    mb_session *s = NULL;
    mb_sampler *smp = NULL;
    bench_bufs b = {0};
    size_t reps = (size_t)p->reps;
    b.pp = calloc(reps, sizeof *b.pp);
    b.tg = calloc(reps, sizeof *b.tg);
    b.ttft = calloc(reps, sizeof *b.ttft);
    b.ids = calloc((size_t)need, sizeof *b.ids);
    mb_status st = MB_OK;
    if (!b.pp || !b.tg || !b.ttft || !b.ids)
        st = mb_errorf(MB_ERR_NO_MEMORY, "bench: out of memory for %d repetitions", p->reps);
    if (!st) st = mb_session_new(m, &sp, &s);
    if (!st) st = mb_sampler_new(&smp_p, mb_model_n_vocab(m), &smp);
    if (!st) {
        fill_ids(b.ids, need, mb_model_n_vocab(m));
        r->n_threads = mb_session_n_threads(s);
        r->n_ctx = mb_session_n_ctx(s);
        r->kv_bytes = mb_session_kv_bytes(s);
        mb_kv_describe(&m->hp, s->fwd->n_ctx, s->fwd->n_batch, sp.swa_full,
                       s->fwd->kv.type[MB_KV_K], s->fwd->kv.type[MB_KV_V], r->kv_desc,
                       sizeof r->kv_desc);
        st = warm_up(s, &b, p);
    }
    for (int i = 0; !st && i < p->reps; i++)
        st = run_once(s, smp, &b, i, p);
    if (!st) {
        int n_pp = p->n_prompt > 0 ? p->reps : 0, n_tg = p->n_gen > 0 ? p->reps : 0;
        r->prefill_tps = summarize(b.pp, n_pp);
        r->ttft_seconds = summarize(b.ttft, n_pp);
        r->decode_tps = summarize(b.tg, n_tg);
        if (b.tokens) r->decode_read_per_token = b.read / b.tokens;
        if (b.hits + b.misses)
            r->decode_expert_hit_rate = (double)b.hits / (double)(b.hits + b.misses);
    }
    mb_model_stream_stats(m, &r->stream);
    mb_sampler_free(smp);
    mb_session_free(s);
    free(b.pp);
    free(b.tg);
    free(b.ttft);
    free(b.ids);
    return st;
}

mb_status mb_bench_run(const char *path, const mb_bench_params *params, mb_bench_result *r) {
    memset(r, 0, sizeof *r);
    mb_bench_params p = params ? *params : mb_bench_default_params();
    if (p.reps < 1 || p.reps > 1000 || p.n_prompt < 0 || p.n_gen < 0 || p.n_prompt > (1 << 20) ||
        p.n_gen > (1 << 20) || p.n_threads < 0)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "bench: -p %d, -n %d, -r %d or -t %d is out of range (-p/-n 0..1048576, "
                         "-r 1..1000)",
                         p.n_prompt, p.n_gen, p.reps, p.n_threads);
    r->kernels = mb_kernels_name();
    r->n_prompt = p.n_prompt;
    r->n_gen = p.n_gen;
    r->reps = p.reps;
    mb_model_params mp = mb_model_default_params();
    mp.use_mmap = p.use_mmap;
    mp.mem_budget = p.mem_budget;
    mp.repack = p.repack;
    mb_model *m = NULL;
    double t0 = mb_now();
    mb_status st = mb_model_load(path, &mp, &m);
    if (st) return st;
    r->load_seconds = mb_now() - t0;
    snprintf(r->model_desc, sizeof r->model_desc, "%s", mb_model_desc(m));
    r->uses_mmap = mb_model_uses_mmap(m);
    r->weight_bytes = mb_model_weight_bytes(m);
    r->bytes_per_token = bytes_per_token(m);
    mb_model_stream_stats(m, &r->stream);
    st = run_tests(m, &p, r);
    r->peak_rss = peak_rss_bytes();
    mb_model_free(m);
    if (st) return st;
    /* After the model is freed: the buffer must not count in the peak RSS
     * above, nor compete with the weights for memory. */
    if (p.bw_bytes > 0) {
        st = mb_bench_read_bandwidth(r->n_threads, p.bw_bytes, 5, &r->read_gbs);
        if (st) return st;
    }
    if (r->read_gbs > 0)
        r->decode_share = (double)r->bytes_per_token * r->decode_tps.median / (r->read_gbs * 1e9);
    return MB_OK;
}
