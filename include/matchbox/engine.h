/* matchbox/engine.h: many generations at once over one model.
 *
 * An engine owns N slots, each a session (KV cache) with its own thread,
 * sharing one model's weights read-only, and one bounded FIFO of jobs. A
 * request submitted while every slot is busy waits in the queue; past the
 * queue's limit, submitting fails at once with MB_ERR_BUSY, so memory and latency stay bounded
 * under any load. With batching on, the slots' decode steps meet and run as one batched pass over
 * the weights (mb_batch_decode), which is what bounds decoding speed. A slot remembers the tokens
 * of its previous request: a request that starts the same way (the next turn of a chat) evaluates
 * only what is new, and a queued request goes to the idle slot that holds most of its prompt.
 *
 * The output of a job reaches the application either way:
 *   - callbacks (on_token, on_text, on_done), called on the slot's thread;
 *   - pulling: mb_engine_job_read() blocks until there is new text and
 *     copies it; mb_engine_job_wait() blocks until the job is finished.
 *
 * A minimal use (errors unchecked for brevity):
 *
 *     mb_engine_params ep = mb_engine_default_params();
 *     ep.n_slots = 2;
 *     mb_engine *e;
 *     mb_engine_new(model, &ep, &e);
 *     mb_engine_request r = mb_engine_default_request();
 *     r.prompt = ids;              // from mb_tokenize
 *     r.n_prompt = n_ids;
 *     r.max_tokens = 64;
 *     mb_engine_job *j;
 *     if (mb_engine_submit(e, &r, &j) == MB_OK) {
 *         char buf[256];
 *         size_t off = 0, n;
 *         while ((n = mb_engine_job_read(j, off, buf, sizeof buf, -1)) > 0)
 *             fwrite(buf, 1, n, stdout), off += n;
 *         mb_engine_job_free(j);
 *     }
 *     mb_engine_free(e);
 *
 * Threads: every function here may be called from any thread, concurrently,
 * except mb_engine_free (once, when no other call on that engine is running
 * or will start) and calls on a job after mb_engine_job_free of it. The job
 * handles outlive the engine: after mb_engine_free every job is finished,
 * and the job functions may still be called until each is freed. The
 * callbacks must not call mb_engine_free or mb_engine_drain (they would
 * wait for themselves); they may submit and cancel. */
#ifndef MATCHBOX_ENGINE_H
#define MATCHBOX_ENGINE_H

#include <stddef.h>

#include <matchbox.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mb_engine mb_engine;
typedef struct mb_engine_job mb_engine_job;

/* The most alternatives a token's logprobs may list. */
#define MB_ENGINE_MAX_TOP_LOGPROBS 20

typedef struct {
    size_t struct_size; /* sizeof(mb_engine_params): set by mb_engine_default_params() */
    int n_slots;        /* concurrent generations, 1..256; default 1 */
    int n_queue;        /* requests that may wait for a slot, 0..65536; default 16 */
    /* Each slot's session (copied by mb_engine_new); NULL (default): the
     * session defaults. Its n_threads are each slot's threads for a
     * prefill (and for decode steps when not batched); 0 (default): the
     * physical cores divided among the slots, at least 1. */
    const mb_session_params *session;
    int batch;         /* 1 (default): batch the slots' decode steps; 0: each alone */
    int batch_threads; /* threads of the batched pass; 0 (default): physical cores */
    /* Since 0.3: speculative decoding in every slot (matchbox.h,
     * mb_speculative_params), from a draft model (each slot gets its own
     * session of it, one thread, the slots' context) or prompt lookup
     * (lookup_n > 0). Either turns the batching of decode steps off: a
     * slot's verification passes are its own. NULL and 0 (default): off. */
    mb_model *draft_model;
    int draft_max, draft_min, lookup_n; /* as in mb_speculative_params; defaults 6, 1, 0 */
    /* Since 0.4: the slots share one paged KV cache of blocks of 64
     * positions. A request is admitted when the cache can promise it the
     * blocks of its prompt and max_tokens (the rest of the context when
     * max_tokens < 0), so a running generation never runs out; one that
     * cannot be promised them yet waits in the queue. Blocks holding a
     * prompt's prefix are shared by every request that starts with it
     * (a system prompt, a conversation's earlier turns: computed once,
     * copied only where a request diverges inside a block), and stay
     * cached after their request until the space is needed.
     * kv_budget: the cache's bytes; 0 (default): n_slots full contexts;
     * < 0: no paged cache, each slot its own whole-context cache (as
     * before 0.4; also what a model with windowed layers gets unless its
     * session has swa_full). */
    long long kv_budget;
    /* A job still queued after this many milliseconds (waiting for a slot
     * or for KV blocks) ends MB_ENGINE_TIMEOUT without running (a server
     * answers 503). 0 (default): no limit. */
    int queue_timeout_ms;
} mb_engine_params;

/* The defaults above. Start from these and set what you need, so a field
 * added later keeps its default in your program (matchbox.h: structs that
 * can grow). */
MB_API mb_engine_params mb_engine_default_params(void);

/* Why a job ended. */
typedef enum {
    MB_ENGINE_RUNNING = 0, /* not finished: queued or generating */
    MB_ENGINE_LENGTH,      /* max_tokens reached, or the context is full */
    MB_ENGINE_STOP,        /* an end-of-generation token or a stop string */
    MB_ENGINE_CANCELLED,   /* mb_engine_job_cancel, or a callback asked to stop */
    MB_ENGINE_ERROR,       /* the generation failed: mb_engine_job_error says why */
    MB_ENGINE_TIMEOUT      /* since 0.4: not started within queue_timeout_ms; nothing ran */
} mb_engine_finish;

/* One generated token as on_token sees it. */
typedef struct {
    mb_token id;
    const char *piece; /* the token's text as the vocabulary spells it (no stop-string
                        * holding: see on_text); NUL-terminated, valid during the call */
    size_t piece_len;
    const float *logits; /* the n_vocab logits it was sampled from, valid during the call */
    int n_vocab;
    /* With request.logprobs: log-probability of ID and the N_TOP most
     * likely tokens, best first (end-of-generation tokens get none). */
    float logprob;
    int n_top;
    mb_token top_id[MB_ENGINE_MAX_TOP_LOGPROBS];
    float top_logprob[MB_ENGINE_MAX_TOP_LOGPROBS];
} mb_engine_token;

/* Counters of a finished job. */
typedef struct {
    int n_prompt;    /* prompt tokens, the cached ones included */
    int n_cached;    /* prompt tokens reused from the slot's cache, not evaluated */
    int n_generated; /* tokens sampled */
    double queue_seconds, prefill_seconds, decode_seconds;
} mb_engine_job_stats;

/* Since 0.5: a job's speculative decoding (mb_engine_params.draft_model or
 * lookup_n; all 0 when the engine runs without): tokens drafted, those the
 * model accepted, and the model's forward passes while decoding (each
 * verifies a draft or takes a plain step). A struct of its own, so that
 * mb_engine_job_stats keeps its size for callers built before. */
typedef struct {
    int n_drafted;
    int n_accepted;
    int n_forwards;
} mb_engine_job_spec_stats;

/* Called on the slot's thread for each generated token, before its text.
 * Return non-zero to stop the job (it finishes MB_ENGINE_CANCELLED). */
typedef int (*mb_engine_token_cb)(mb_engine_job *job, const mb_engine_token *tok, void *user);
/* Called on the slot's thread with each piece of released text: whole UTF-8
 * characters, stop strings cut off (text that might begin one is held
 * until it does not). Return non-zero to stop the job. */
typedef int (*mb_engine_text_cb)(mb_engine_job *job, const char *text, size_t len, void *user);
/* Called once when the job ends, on the slot's thread, or on the thread of
 * mb_engine_job_cancel (or mb_engine_job_free) when it withdrew the job
 * from the queue. The job's finish reason and stats are final here. */
typedef void (*mb_engine_done_cb)(mb_engine_job *job, mb_engine_finish finish, void *user);

typedef struct {
    size_t struct_size;     /* sizeof(mb_engine_request): set by mb_engine_default_request() */
    const mb_token *prompt; /* copied by mb_engine_submit; must not be empty */
    size_t n_prompt;
    /* Sampling (copied by mb_engine_submit); NULL (default): the sampler
     * defaults. */
    const mb_sampler_params *sampler;
    int max_tokens;              /* new tokens at most; < 0 (default): until the context is full */
    const char *const *stop;     /* stop strings, NULL-terminated (may be NULL); copied */
    int logprobs;                /* fill mb_engine_token.logprob for on_token */
    int n_top_logprobs;          /* with logprobs: alternatives, 0..MB_ENGINE_MAX_TOP_LOGPROBS */
    int cache_prompt;            /* 1 (default): reuse the slot's cached prefix */
    mb_engine_token_cb on_token; /* each may be NULL */
    mb_engine_text_cb on_text;
    mb_engine_done_cb on_done;
    void *user; /* passed to the callbacks */
    /* Since 0.5: GBNF text (copied) the output must follow (matchbox.h,
     * mb_sampler_set_grammar); NULL (default): none. A bad grammar fails
     * mb_engine_submit with MB_ERR_INVALID_ARG naming the problem. A job
     * with a grammar runs without speculative decoding. */
    const char *grammar;
} mb_engine_request;

/* A request with the defaults above and no prompt. */
MB_API mb_engine_request mb_engine_default_request(void);

/* Make the sessions of N_SLOTS slots and start their threads. PARAMS NULL:
 * the defaults. Fails with MB_ERR_INVALID_ARG for counts out of range or a
 * struct not made by mb_engine_default_params, and with MB_ERR_NO_MEMORY,
 * before making anything, when the slots' KV caches (and the mapped
 * weights) would not fit the memory available. MODEL is shared
 * read-only and must outlive the engine. On failure *OUT is NULL and
 * nothing is left behind. */
MB_API mb_status mb_engine_new(mb_model *model, const mb_engine_params *params, mb_engine **out);

/* Finish the jobs submitted (queued ones included), stop the slots and free
 * the engine. The job handles the caller holds stay valid until freed. */
MB_API void mb_engine_free(mb_engine *engine);

/* Each slot's context in tokens, the number of slots, and each slot's
 * threads (for a prefill, and for decode steps when not batched). */
MB_API int mb_engine_n_ctx(const mb_engine *engine);
MB_API int mb_engine_n_slots(const mb_engine *engine);
MB_API int mb_engine_n_threads(const mb_engine *engine);

/* Queue a job for REQUEST. On success *OUT is a handle the caller owns
 * (free it with mb_engine_job_free; the engine keeps its own reference until
 * the job ends). Fails with MB_ERR_INVALID_ARG for a bad request (empty
 * prompt, too many logprobs), MB_ERR_NO_MEMORY, or MB_ERR_BUSY when every
 * slot is busy and the queue is full (a server answers 503): then
 * nothing was queued, no callback is called and *OUT is NULL. */
MB_API mb_status mb_engine_submit(mb_engine *engine, const mb_engine_request *request,
                                  mb_engine_job **out);

/* Cancel JOB. A job still queued is withdrawn, its place going to the next
 * request; it finishes MB_ENGINE_CANCELLED at once (on_done runs on this
 * thread) and 1 is returned. A job in a slot stops at its next token (or
 * costs no decoding if it has not begun) and 0 is returned; so does a job
 * that has finished, for which this does nothing. */
MB_API int mb_engine_job_cancel(mb_engine_job *job);

/* Block until JOB is finished or TIMEOUT_MS passes (< 0: no limit).
 * Returns the finish reason, MB_ENGINE_RUNNING on timeout. */
MB_API mb_engine_finish mb_engine_job_wait(mb_engine_job *job, int timeout_ms);

/* Block until JOB's text is longer than OFFSET bytes, or the job is
 * finished, or TIMEOUT_MS passes (< 0: no limit); then copy up to CAP bytes
 * of the text from OFFSET into BUF (no NUL added) and return how many. 0:
 * nothing new (check mb_engine_job_wait(job, 0) for the end). A CAP
 * smaller than what is new may split a UTF-8 character across two reads. */
MB_API size_t mb_engine_job_read(mb_engine_job *job, size_t offset, char *buf, size_t cap,
                                 int timeout_ms);

/* The job's counters (final once it is finished). */
MB_API void mb_engine_job_get_stats(mb_engine_job *job, mb_engine_job_stats *out);
/* Since 0.5: the job's speculative counters (final once it is finished;
 * already final when on_done runs). */
MB_API void mb_engine_job_get_spec_stats(mb_engine_job *job, mb_engine_job_spec_stats *out);
/* Why a job finished MB_ENGINE_ERROR or MB_ENGINE_TIMEOUT; "" otherwise.
 * Valid until the job is freed. */
MB_API const char *mb_engine_job_error(mb_engine_job *job);
/* Since 0.4: 1 once a slot has taken JOB (or it has finished), 0 while it
 * is queued. A server can hold a stream's headers until then, so that a
 * job that times out in the queue still gets its 503. */
MB_API int mb_engine_job_started(mb_engine_job *job);

/* Release the caller's handle. A job not finished yet is cancelled first
 * (mb_engine_job_cancel); its callbacks may still run until it ends, so
 * their USER data must live until on_done. NULL is ignored. */
MB_API void mb_engine_job_free(mb_engine_job *job);

/* Block until every submitted job is finished. */
MB_API void mb_engine_drain(mb_engine *engine);
/* Slots generating now and jobs waiting in the queue. */
MB_API void mb_engine_load(mb_engine *engine, int *busy, int *queued);
/* Batched decode passes run so far and the tokens they fed (rows / steps is
 * the mean batch size); both 0 when not batching. */
MB_API void mb_engine_batch_stats(mb_engine *engine, unsigned long long *steps,
                                  unsigned long long *rows);

/* Since 0.4: the shared paged KV cache (mb_engine_params.kv_budget). */
typedef struct {
    int paged;           /* 0: each slot has its own cache, the rest is 0 */
    int n_blocks;        /* blocks of block_positions positions */
    int block_positions; /* 64 */
    unsigned long long block_bytes;
    int used;                          /* held by running or finished-but-kept requests */
    int shared;                        /* held by two or more requests */
    int cached;                        /* held by none, kept for the prefixes they hold */
    int free;                          /* holding nothing */
    int committed;                     /* promised to running requests, not yet written */
    unsigned long long adopted_tokens; /* prompt tokens found in the cache, not computed */
    unsigned long long copies;         /* blocks copied where a request diverged inside */
    unsigned long long evictions;      /* cached blocks reused for other contents */
} mb_engine_kv_stats;
MB_API void mb_engine_kv_get_stats(mb_engine *engine, mb_engine_kv_stats *out);

#ifdef __cplusplus
}
#endif

#endif
