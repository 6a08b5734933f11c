/* Prometheus text exposition of the server's counters. */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_endpoints[MB_METRIC_ENDPOINTS] = {"/v1/chat/completions",
                                                             "/v1/completions",
                                                             "/v1/models",
                                                             "/health",
                                                             "/metrics",
                                                             "/v1/embeddings",
                                                             "other"};
static const int k_statuses[MB_METRIC_STATUSES] = {200, 204, 400, 401, 403, 404,
                                                   405, 413, 500, 503, 499, 0};
/* Seconds: a tiny model answers in milliseconds, a large one in minutes. */
static const double k_bounds[MB_METRIC_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                   0.5,   1,    2.5,   5,    10,  30};

int mb_metrics_endpoint(const char *path) {
    for (int i = 0; i < MB_METRIC_ENDPOINTS - 1; i++)
        if (!strcmp(path, k_endpoints[i])) return i;
    return MB_METRIC_ENDPOINTS - 1;
}

void mb_metrics_init(mb_metrics *m, int n_slots, int n_queue) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->n_slots = n_slots;
    m->n_queue = n_queue;
}

void mb_metrics_destroy(mb_metrics *m) {
    pthread_mutex_destroy(&m->mu);
}

static void observe(mb_histogram *h, double v) {
    int b = 0;
    while (b < MB_METRIC_BUCKETS && v > k_bounds[b])
        b++;
    h->bucket[b]++;
    h->sum += v;
    h->count++;
}

void mb_metrics_request(mb_metrics *m, int endpoint, int http_status, double seconds) {
    int s = 0;
    while (s < MB_METRIC_STATUSES - 1 && k_statuses[s] != http_status)
        s++;
    if (endpoint < 0 || endpoint >= MB_METRIC_ENDPOINTS) endpoint = MB_METRIC_ENDPOINTS - 1;
    pthread_mutex_lock(&m->mu);
    m->requests[endpoint][s]++;
    if (endpoint <= 1) observe(&m->latency, seconds);
    if (http_status == 503) m->rejected_full++;
    pthread_mutex_unlock(&m->mu);
}

void mb_metrics_generation(mb_metrics *m, int n_prompt, int n_cached, int n_generated,
                           double prefill_s, double decode_s, double first_token_s) {
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += (uint64_t)(n_prompt - n_cached);
    m->cached_tokens += (uint64_t)n_cached;
    m->generated_tokens += (uint64_t)n_generated;
    m->prefill_seconds += prefill_s;
    m->decode_seconds += decode_s;
    if (decode_s > 0 && n_generated > 1) m->recent_tok_s = n_generated / decode_s;
    if (first_token_s >= 0) observe(&m->first_token, first_token_s);
    pthread_mutex_unlock(&m->mu);
}

void mb_metrics_speculative(mb_metrics *m, int n_drafted, int n_accepted, int n_forwards) {
    pthread_mutex_lock(&m->mu);
    m->drafted += (uint64_t)n_drafted;
    m->accepted += (uint64_t)n_accepted;
    m->forwards += (uint64_t)n_forwards;
    pthread_mutex_unlock(&m->mu);
}

typedef struct {
    char *s;
    size_t len, cap;
    int failed;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
    for (int tries = 0; !b->failed && tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) break;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n) * 2;
        char *t = realloc(b->s, cap);
        if (!t) break;
        b->s = t;
        b->cap = cap;
    }
    b->failed = 1;
}

static void histogram(buf *b, const char *name, const char *help, const mb_histogram *h) {
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < MB_METRIC_BUCKETS; i++) {
        cum += h->bucket[i];
        put(b, "%s_bucket{le=\"%g\"} %llu\n", name, k_bounds[i], (unsigned long long)cum);
    }
    cum += h->bucket[MB_METRIC_BUCKETS];
    put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
        (unsigned long long)cum, name, h->sum, name, (unsigned long long)h->count);
}

static void counter(buf *b, const char *name, const char *type, const char *help, double v) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n%s %.10g\n", name, help, name, type, name, v);
}

char *mb_metrics_render(mb_metrics *m, size_t *len) {
    buf b = {.s = malloc(4096), .cap = 4096};
    if (!b.s) return NULL;
    b.s[0] = '\0';
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP matchbox_requests_total HTTP requests by endpoint and status.\n"
            "# TYPE matchbox_requests_total counter\n");
    for (int e = 0; e < MB_METRIC_ENDPOINTS; e++)
        for (int s = 0; s < MB_METRIC_STATUSES; s++)
            if (m->requests[e][s])
                put(&b, "matchbox_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
                    k_endpoints[e], k_statuses[s], (unsigned long long)m->requests[e][s]);
    counter(&b, "matchbox_prompt_tokens_total", "counter",
            "Prompt tokens evaluated (a prefix reused from a slot's cache is not).",
            (double)m->prompt_tokens);
    counter(&b, "matchbox_prompt_tokens_cached_total", "counter",
            "Prompt tokens reused from a slot's cache instead of evaluated.",
            (double)m->cached_tokens);
    counter(&b, "matchbox_generated_tokens_total", "counter", "Tokens generated.",
            (double)m->generated_tokens);
    counter(&b, "matchbox_draft_tokens_total", "counter",
            "Tokens drafted for speculative decoding (serve -md or --lookup).", (double)m->drafted);
    counter(&b, "matchbox_draft_tokens_accepted_total", "counter",
            "Drafted tokens the model accepted.", (double)m->accepted);
    counter(&b, "matchbox_decode_forward_passes_total", "counter",
            "The model's forward passes while generating (with speculation fewer than the "
            "tokens generated).",
            (double)m->forwards);
    counter(&b, "matchbox_prefill_seconds_total", "counter", "Seconds spent reading prompts.",
            m->prefill_seconds);
    counter(&b, "matchbox_decode_seconds_total", "counter", "Seconds spent generating.",
            m->decode_seconds);
    counter(&b, "matchbox_tokens_per_second", "gauge", "Decode rate of the last finished request.",
            m->recent_tok_s);
    counter(&b, "matchbox_queue_depth", "gauge", "Requests waiting for a slot.", m->queued);
    counter(&b, "matchbox_slots_busy", "gauge", "Slots generating now.", m->busy);
    counter(&b, "matchbox_slots_total", "gauge", "Slots (concurrent generations).", m->n_slots);
    counter(&b, "matchbox_queue_limit", "gauge", "Requests that may wait for a slot.", m->n_queue);
    counter(&b, "matchbox_rejected_total", "counter", "Requests refused with 503: queue full.",
            (double)m->rejected_full);
    counter(&b, "matchbox_cancelled_total", "counter",
            "Generations stopped because the client went away.", (double)m->cancelled);
    counter(&b, "matchbox_batch_steps_total", "counter",
            "Batched decode passes (one per step of all decoding slots).", (double)m->batch_steps);
    counter(&b, "matchbox_batch_tokens_total", "counter",
            "Tokens decoded by batched passes (divided by steps: the mean batch).",
            (double)m->batch_rows);
    if (m->kv.paged) {
        const mb_engine_kv_stats *k = &m->kv;
        counter(&b, "matchbox_kv_blocks_total", "gauge",
                "Blocks of the slots' shared KV cache (64 positions of every layer each).",
                k->n_blocks);
        counter(&b, "matchbox_kv_block_bytes", "gauge", "Bytes of one KV cache block.",
                (double)k->block_bytes);
        counter(&b, "matchbox_kv_blocks_used", "gauge", "KV blocks held by requests.", k->used);
        counter(&b, "matchbox_kv_blocks_shared", "gauge",
                "KV blocks held by two or more requests (a common prefix, held once).", k->shared);
        counter(&b, "matchbox_kv_blocks_cached", "gauge",
                "KV blocks held by no request, kept for the prefixes they hold.", k->cached);
        counter(&b, "matchbox_kv_blocks_free", "gauge", "KV blocks holding nothing.", k->free);
        counter(&b, "matchbox_kv_blocks_promised", "gauge",
                "KV blocks promised to running requests and not yet written.", k->committed);
        counter(&b, "matchbox_kv_prefix_tokens_total", "counter",
                "Prompt tokens found in the shared KV cache instead of computed.",
                (double)k->adopted_tokens);
        counter(&b, "matchbox_kv_block_copies_total", "counter",
                "KV blocks copied where a request diverged inside a shared block.",
                (double)k->copies);
        counter(&b, "matchbox_kv_block_evictions_total", "counter",
                "Cached KV blocks reused for other contents.", (double)k->evictions);
    }
    histogram(&b, "matchbox_request_duration_seconds",
              "Completion request latency, arrival to last byte.", &m->latency);
    histogram(&b, "matchbox_time_to_first_token_seconds",
              "From arrival to the first generated token.", &m->first_token);
    pthread_mutex_unlock(&m->mu);
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    *len = b.len;
    return b.s;
}
