/* The server's counters, rendered in the Prometheus text format. Every
 * update takes one mutex: a few per request, negligible next to decoding. */
#ifndef MB_SERVER_METRICS_H
#define MB_SERVER_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <matchbox/engine.h>

enum { MB_METRIC_ENDPOINTS = 7, MB_METRIC_STATUSES = 12, MB_METRIC_BUCKETS = 12 };
/* The index of /v1/embeddings (after the GET endpoints; "other" is last). */
enum { MB_ENDPOINT_EMBEDDINGS = 5 };

typedef struct {
    uint64_t bucket[MB_METRIC_BUCKETS + 1]; /* the last is +Inf */
    double sum;
    uint64_t count;
} mb_histogram;

typedef struct {
    pthread_mutex_t mu;
    uint64_t requests[MB_METRIC_ENDPOINTS][MB_METRIC_STATUSES];
    uint64_t prompt_tokens, generated_tokens;
    uint64_t cached_tokens; /* prompt tokens reused from a slot's cache, not evaluated */
    uint64_t drafted, accepted, forwards; /* speculative decoding's counters, summed */
    double decode_seconds, prefill_seconds;
    double recent_tok_s; /* the last finished request's decode rate */
    mb_histogram latency, first_token;
    int queued, busy, n_slots, n_queue;
    uint64_t rejected_full, cancelled;
    unsigned long long batch_steps, batch_rows; /* batched decode passes, tokens they fed */
    mb_engine_kv_stats kv;                      /* the paged KV cache, read per scrape */
} mb_metrics;

/* Endpoint indices, as mb_metrics_endpoint() maps paths to them. */
int mb_metrics_endpoint(const char *path);

void mb_metrics_init(mb_metrics *m, int n_slots, int n_queue);
void mb_metrics_destroy(mb_metrics *m);
void mb_metrics_request(mb_metrics *m, int endpoint, int http_status, double seconds);
void mb_metrics_generation(mb_metrics *m, int n_prompt, int n_cached, int n_generated,
                           double prefill_s, double decode_s, double first_token_s);

/* A finished request's speculative counters (mb_engine_job_spec_stats). */
void mb_metrics_speculative(mb_metrics *m, int n_drafted, int n_accepted, int n_forwards);

/* Render into a malloc'ed NUL-terminated string; NULL when out of memory. */
char *mb_metrics_render(mb_metrics *m, size_t *len);

#endif
