/* matchbox: run large language models on the device.
 *
 * The public C API. Handles are opaque; every call that can fail returns an
 * mb_status and leaves a readable message, fetched with mb_last_error() on the
 * same thread (like dlerror/errno: the message belongs to the calling thread,
 * so concurrent sessions on different threads never clobber each other's).
 *
 * Parameter structs that can grow. Every mb_*_params struct starts with
 * `size_t struct_size`, set by its mb_*_default_params() function: get the
 * defaults from it, then change the fields you need:
 *
 *     mb_session_params sp = mb_session_default_params();
 *     sp.n_ctx = 2048;
 *
 * The library reads the first struct_size bytes of the caller's struct and
 * takes its own defaults for any field past them, so a program built against
 * an older matchbox.h keeps working with a newer library. New fields are only
 * ever appended; none is removed or reordered. A struct_size of 0 (a struct
 * built by hand, `= {0}`) or smaller than the first release's struct is
 * refused with MB_ERR_INVALID_ARG and a message naming the struct. */
#ifndef MATCHBOX_H
#define MATCHBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every function of the public API carries MB_API: the shared library is
 * built with hidden visibility, so only these names are exported. */
#if defined(__GNUC__) || defined(__clang__)
#define MB_API __attribute__((visibility("default")))
#else
#define MB_API
#endif

/* The version of this header. MAJOR changes when a release breaks the ABI
 * (it is the shared library's soname, libmatchbox.so.MAJOR), MINOR when one
 * adds to the API, PATCH otherwise (docs/LIBRARY.md). CMake reads the
 * project version from these three lines: keep their form. */
#define MB_VERSION_MAJOR 0
#define MB_VERSION_MINOR 5
#define MB_VERSION_PATCH 0
#define MB_STR_(x) #x
#define MB_XSTR_(x) MB_STR_(x)
/* "0.5.0" */
#define MB_VERSION                                                                                 \
    MB_XSTR_(MB_VERSION_MAJOR) "." MB_XSTR_(MB_VERSION_MINOR) "." MB_XSTR_(MB_VERSION_PATCH)
/* 0xMMmmpp: 0x000500 for 0.5.0; compare with >= for "at least this version". */
#define MB_VERSION_NUMBER ((MB_VERSION_MAJOR << 16) | (MB_VERSION_MINOR << 8) | MB_VERSION_PATCH)

/* The version of the library running, "MAJOR.MINOR.PATCH": with a shared
 * library it may differ from the MB_VERSION the app was compiled with (same
 * MAJOR, by the soname). A static string; never NULL; any thread. */
MB_API const char *mb_version(void);

typedef enum {
    MB_OK = 0,
    MB_ERR_IO,           /* open/read/write/rename failed */
    MB_ERR_FORMAT,       /* the file is truncated, corrupt or malformed */
    MB_ERR_UNSUPPORTED,  /* well-formed, but a feature matchbox does not handle */
    MB_ERR_INVALID_ARG,  /* the caller passed something out of range */
    MB_ERR_NO_MEMORY,    /* allocation failed or would not fit in RAM */
    MB_ERR_CONTEXT_FULL, /* a prompt or generation does not fit the context */
    MB_ERR_ABORTED,      /* the session's abort callback asked to stop (mb_session_set_abort) */
    MB_ERR_BUSY          /* every slot of an engine is busy and its queue full */
} mb_status;

/* A short name for a status ("format error"). Never NULL. */
MB_API const char *mb_status_str(mb_status status);

/* The message left by the last failing call on this thread. Never NULL. */
MB_API const char *mb_last_error(void);

/* The kernel level in use: "ref", "avx2", "avx512", "avx512-vnni",
 * "avx512-bf16", "neon" or "neon-dotprod" (MATCHBOX_CPU forces one). */
MB_API const char *mb_kernels_name(void);

/* The number of physical cores (on ARM, of the big cores) among the CPUs
 * this process may run on (sched_getaffinity: taskset, cpusets), capped by
 * its cgroup's CPU quota rounded up (containers): what n_threads 0 means in
 * the params below. At least 1; any thread. */
MB_API int mb_n_physical_cores(void);

/* ---- log ------------------------------------------------------------- */

typedef enum { MB_LOG_ERROR, MB_LOG_WARN, MB_LOG_INFO, MB_LOG_DEBUG } mb_log_level;

/* Receives every message the library prints: load information (verbose),
 * warnings (an unavailable MATCHBOX_CPU, a failed mlock), training progress.
 * MSG is NUL-terminated and valid only during the call; it is the text as it
 * would appear on a terminal: a line ends in '\n', and a progress message may
 * start with '\r' and end without a newline so that the next one overwrites
 * it. Errors of a failing call are not logged: they are its mb_last_error().
 *
 * A message longer than 2 KiB is cut there.
 *
 * The callback may be called from any thread (the library's worker threads
 * included), and from several at once: it must be thread-safe itself. */
typedef void (*mb_log_fn)(mb_log_level level, const char *msg, void *user);

/* Send the library's messages to FN (with USER), process-wide; NULL restores
 * the default, which writes every message to stderr unchanged. Safe to call
 * from any thread at any time (the callback itself included): a message
 * logged concurrently goes to either the old or the new callback, so keep
 * the old USER valid until calls that may log have returned. */
MB_API void mb_log_set(mb_log_fn fn, void *user);

typedef int32_t mb_token;

typedef struct mb_model mb_model;
typedef struct mb_session mb_session;
typedef struct mb_sampler mb_sampler;

/* ---- models ---------------------------------------------------------- */

typedef struct {
    size_t struct_size; /* sizeof(mb_model_params): set by mb_model_default_params() */
    int use_mmap;       /* -1 (default): read the weights into anonymous memory with huge pages
                         * when they fit in available RAM with headroom (faster decode), map
                         * the file otherwise; 1: always map; 0: always read into memory */
    int use_mlock;      /* lock the weights in RAM */
    int verbose;        /* log load information (MB_LOG_INFO) */
    int vocab_only;     /* load only the tokenizer (vocab-only files too); no sessions */
    /* NULL (default): the pre-tokenizer tokenizer.ggml.pre names; else the
     * name of one to use instead, for byte-level BPE vocabularies ("gpt-2",
     * "llama-bpe", "smollm", "qwen2", "default"). */
    const char *tokenizer_pre;
    /* 0 (default): no limit. Else the bytes of RAM the weights may take:
     * what fits stays resident (the output matrix, norms, the first layers)
     * and the other layers are read from the file layer by layer while the
     * forward pass runs, a prefetch thread one layer ahead; token embeddings
     * are read by row; MoE experts on demand into an LRU cache. The file is
     * mapped (use_mmap 0 and use_mlock are refused with a budget). Refused
     * with MB_ERR_INVALID_ARG, naming both numbers, below the least the model
     * needs (its resident part and two layer buffers). LoRA adapters are
     * refused on a model with streamed weights. mb_model_stream_stats says
     * what the plan is and what was read. */
    uint64_t mem_budget;
    /* Since 0.5. 0 (default): the weights keep the file's layout. 1: where
     * they are read into memory (not mapped, no budget) and the CPU has
     * the kernels, weight matrices are reordered in place while loading
     * for faster products: Q4_0 16 rows at a time (AVX2, AVX-512), Q4_K
     * (AVX2, AVX-512), Q5_K and Q6_K (AVX-512) 16 rows at a time (faster batches
     * of 2-15 rows: speculative verification, the server's slots), SQ4
     * blocks into lanes (AVX-512
     * with VBMI2 and VNNI; faster decode); the
     * results differ from the file layout's by float rounding only. The tensors' bytes (mb_model's GGUF view) are then no
     * longer the file's: code that reads them after loading needs 0. */
    int repack;
} mb_model_params;

MB_API mb_model_params mb_model_default_params(void);

/* Load the GGUF model at PATH (PARAMS NULL: the defaults). On success *out
 * owns the model until mb_model_free; on failure *out is NULL and nothing is
 * left open. A loaded model is read-only: any number of threads may use it
 * at once (tokenize, make sessions), except mb_model_load_lora and
 * mb_model_set_chat_template, which need it to themselves. It must outlive
 * every session and batch made from it. Under a memory budget (mem_budget)
 * the forward passes of its sessions and batches run one at a time: they
 * share the model's ring of streamed layers. */
MB_API mb_status mb_model_load(const char *path, const mb_model_params *params, mb_model **out);
MB_API void mb_model_free(mb_model *model);

/* Apply the LoRA adapter at PATH (GGUF: general.type "adapter", adapter.type
 * "lora"; docs/TRAINING.md) to MODEL: every adapted projection adds
 * SCALE * (alpha / r) * B (A x). Sessions created afterwards use it; call it
 * before mb_session_new (while sessions or batches of the model exist it is
 * refused with MB_ERR_INVALID_ARG: they could not use it). One adapter per model; it is checked
 * against the model (architecture, tensor names, shapes) and refused with a message. */
MB_API mb_status mb_model_load_lora(mb_model *model, const char *path, float scale);

MB_API int mb_model_n_vocab(const mb_model *model);
MB_API int mb_model_n_ctx_train(const mb_model *model);
/* The width of the model's hidden states: the length of an embedding
 * (mb_session_embed). */
MB_API int mb_model_n_embd(const mb_model *model);
/* 1 if the weights are read through a page-cache mapping of the file, 0 if
 * they were read into anonymous memory (see mb_model_params.use_mmap). */
MB_API int mb_model_uses_mmap(const mb_model *model);
/* Bytes of weight data, as stored in the file. */
MB_API uint64_t mb_model_weight_bytes(const mb_model *model);
/* One line that describes the model, e.g. "llama 5 layers, dim 64, F32". */
MB_API const char *mb_model_desc(const mb_model *model);

/* Weights under a memory budget (mb_model_params.mem_budget): the plan and
 * what was read so far. Every field is 0 (plan "") without a budget. */
typedef struct {
    uint64_t budget;
    uint64_t resident_bytes;     /* kept in RAM: output, norms, resident layers */
    uint64_t streamed_bytes;     /* read from the file once per forward pass */
    uint64_t buffer_bytes;       /* the ring of layer buffers */
    uint64_t expert_cache_bytes; /* MoE: the expert cache */
    int n_layer, n_resident_layers, n_cache_experts, n_experts;
    uint64_t passes;        /* forward passes run */
    uint64_t bytes_read;    /* from the file since load: layers, embedding rows, experts */
    uint64_t expert_hits;   /* MoE: routed experts found in the cache */
    uint64_t expert_misses; /* and read */
    char plan[512];         /* the plan in words (-v and bench print it) */
} mb_stream_stats;

MB_API void mb_model_stream_stats(const mb_model *model, mb_stream_stats *out);

/* ---- tokenizer ------------------------------------------------------- */

/* Tokenize TEXT (LEN bytes). add_special adds BOS/EOS as the metadata says;
 * parse_special turns control-token text like "<s>" into its id. Writes at most
 * CAP ids and sets *n_out to the number the text needs (so a call with CAP 0
 * measures). Returns MB_ERR_INVALID_ARG if CAP was too small. */
MB_API mb_status mb_tokenize(const mb_model *model, const char *text, size_t len, int add_special,
                             int parse_special, mb_token *ids, size_t cap, size_t *n_out);

/* The bytes of one token, as they appear in text (may be a partial UTF-8
 * sequence for byte tokens). Control tokens give "" unless render_special. */
MB_API mb_status mb_token_to_piece(const mb_model *model, mb_token id, int render_special,
                                   char *buf, size_t cap, size_t *n_out);

MB_API mb_token mb_token_bos(const mb_model *model);
MB_API mb_token mb_token_eos(const mb_model *model);
/* True for every end-of-generation token the vocabulary marks. */
MB_API int mb_token_is_eog(const mb_model *model, mb_token id);

/* ---- sessions: a KV cache and the buffers of one conversation --------- */

typedef struct {
    size_t struct_size; /* sizeof(mb_session_params): set by mb_session_default_params() */
    int n_ctx;          /* 0: the smaller of 4096 and the trained context */
    int n_threads;      /* 0: the number of physical cores */
    int verbose;        /* log the KV-cache size (per layer kind) and ring rewinds (MB_LOG_INFO) */
    /* Windowed layers (Gemma, Mistral-style windows) keep a ring of their
     * window plus a margin; 1 gives them full caches too (--swa-full). */
    int swa_full;
    /* Since 0.4: the KV cache's types for keys and for values (--kv-type-k,
     * --kv-type-v), GGUF type ids: MB_KV_TYPE_F16 (default), MB_KV_TYPE_Q8_0
     * (8.5 bits a value: about 53% of F16's memory) or MB_KV_TYPE_Q4_0 (4.5
     * bits: about 28%). The quantized types need a head size that is a
     * multiple of 32 (MB_ERR_UNSUPPORTED otherwise). */
    uint32_t kv_type_k, kv_type_v;
} mb_session_params;

/* The KV cache types (GGUF type ids, as mb_gguf_tensor_type_from_name gives
 * them for "f16", "q8_0", "q4_0"). */
enum { MB_KV_TYPE_F16 = 1, MB_KV_TYPE_Q4_0 = 2, MB_KV_TYPE_Q8_0 = 8 };

MB_API mb_session_params mb_session_default_params(void);

/* A session of MODEL (PARAMS NULL: the defaults), with its KV cache and
 * every buffer the forward pass needs, allocated here: evaluating tokens
 * allocates nothing. On failure *out is NULL. A session is used by one
 * thread at a time (calls on different sessions may run concurrently, the
 * model shared); it holds its own worker threads, which run only inside its
 * calls. */
MB_API mb_status mb_session_new(mb_model *model, const mb_session_params *params, mb_session **out);
MB_API void mb_session_free(mb_session *session);

MB_API int mb_session_n_ctx(const mb_session *session);
MB_API int mb_session_n_past(const mb_session *session);
MB_API uint64_t mb_session_kv_bytes(const mb_session *session);
MB_API int mb_session_n_threads(const mb_session *session);

/* Feed N tokens at the current position and advance. On success the logits of
 * the last fed position are available from mb_session_logits(). Fails with
 * MB_ERR_CONTEXT_FULL, and feeds nothing, if they do not fit; with
 * MB_ERR_ABORTED when the abort callback stops it, feeding nothing either
 * (below). */
MB_API mb_status mb_session_eval(mb_session *session, const mb_token *ids, size_t n);
/* The logits (n_vocab floats) of the last position fed. The pointer stays
 * valid until the session is freed; the values change with every call that
 * feeds tokens or loads a state. */
MB_API const float *mb_session_logits(const mb_session *session);
/* As mb_session_eval, and write the logits of every fed position to LOGITS
 * (n x n_vocab floats), as perplexity and KL-divergence evaluation need.
 * After a failed call LOGITS holds nothing usable. */
MB_API mb_status mb_session_eval_all(mb_session *session, const mb_token *ids, size_t n,
                                     float *logits);
/* Forget everything from position POS on (0 clears the cache). A model's
 * windowed layers keep only their window plus a margin of one prefill chunk
 * and 16 positions: rewinding further back than that re-evaluates the
 * POS tokens kept (the session remembers them), so it is exact but costs a
 * prefill (-v says so). */
MB_API mb_status mb_session_rewind(mb_session *session, int pos);

/* ---- embeddings ------------------------------------------------------ */

/* How mb_session_embed pools the hidden states of the input's tokens. */
enum { MB_POOL_MEAN = 0, MB_POOL_LAST = 1 };

/* Evaluate IDS (N tokens, from an empty cache; the session's cache is
 * cleared) and write the pooled final hidden state (after the output
 * norm), L2-normalized when NORMALIZE, to OUT (mb_model_n_embd floats).
 * POOLING is MB_POOL_MEAN (the mean over every token's hidden state) or
 * MB_POOL_LAST (the last token's: what a causal model's last position has
 * read of the whole input). The tokens are evaluated in chunks of the
 * session's batch without the output projection (no logits are computed),
 * and nothing is allocated. N larger than the session's context is
 * MB_ERR_CONTEXT_FULL with both numbers; a token outside the vocabulary is
 * MB_ERR_INVALID_ARG; such refusals leave the session as it was. Once
 * evaluated, success or not, the session is empty (n_past 0) and
 * mb_session_logits() holds nothing usable until tokens are fed. An
 * aborted call (mb_session_set_abort) returns MB_ERR_ABORTED. */
MB_API mb_status mb_session_embed(mb_session *session, const mb_token *ids, size_t n, int pooling,
                                  int normalize, float *out);

/* ---- cancelling: an abort callback ----------------------------------- */

/* Polled between prefill chunks and between the layers of every forward
 * pass of the session; non-zero stops the call. It is called on the thread
 * that called into the session; to cancel from another thread, have it
 * read an atomic flag that thread sets. It must be cheap (it runs once per
 * layer) and must not use the session. */
typedef int (*mb_abort_fn)(void *user);

/* Poll FN (with USER) during SESSION's evaluations (mb_session_eval,
 * mb_session_eval_all, mb_generate); NULL removes it. An aborted call
 * returns MB_ERR_ABORTED and leaves the session where the call started:
 * nothing of it is fed, n_past and mb_session_logits() are as before. (A
 * model with windowed layers whose prefill was stopped after more than one
 * chunk has overwritten part of its rings: the session then re-evaluates
 * the tokens it held, as mb_session_rewind does, without polling, before
 * returning.) mb_batch_decode and rewinds are never aborted. */
MB_API void mb_session_set_abort(mb_session *session, mb_abort_fn fn, void *user);

/* ---- session state: save and restore a conversation ------------------ */

/* Save SESSION's state to PATH: the tokens fed, the logits of the last one,
 * and the KV cache of positions 0..n_past-1 (a windowed layer's ring: the
 * positions it still holds), with the model's fingerprint. The file is
 * written to a temporary next to PATH and renamed over it, so PATH is
 * either the old file or the whole new one. docs/FORMAT.md describes it. */
MB_API mb_status mb_session_state_save(const mb_session *session, const char *path);

/* Restore a state saved by mb_session_state_save into SESSION, which may be
 * any session of the same model (another context size, fresh or not). The
 * file is checked whole before the session is touched: a state of another
 * model (the message names what differs: architecture, layer count,
 * dimensions, vocabulary, KV type, weight bytes, LoRA adapter), more positions than the
 * session's context, a truncated, oversized or malformed file are refused
 * with the session unchanged. Only an I/O error in the middle of reading
 * the KV cache leaves the session cleared (n_past 0); the message says so.
 * On success the session is as the saved one was: n_past, the logits, and
 * what the next tokens produce. */
MB_API mb_status mb_session_state_load(mb_session *session, const char *path);

/* The same state in memory, byte for byte what the file holds.
 * mb_session_state_size: the bytes it takes now (it grows with n_past).
 * mb_session_state_write: write it to BUF (CAP bytes); *n_out gets its size,
 * and a CAP smaller than that is MB_ERR_INVALID_ARG with nothing written.
 * mb_session_state_read: load LEN bytes of BUF (not kept after the call),
 * checked and refused as mb_session_state_load does. */
MB_API size_t mb_session_state_size(const mb_session *session);
MB_API mb_status mb_session_state_write(const mb_session *session, void *buf, size_t cap,
                                        size_t *n_out);
MB_API mb_status mb_session_state_read(mb_session *session, const void *buf, size_t len);

/* ---- batched decoding: several sessions, one pass over the weights ---- */

/* Workspace to decode one token for each of up to MAX_SESSIONS sessions of
 * MODEL (contexts up to N_CTX) in a single forward pass: each weight matrix
 * is read once for all of them, which is what bounds decoding speed.
 * N_THREADS 0: the number of physical cores. */
typedef struct mb_batch mb_batch;
MB_API mb_status mb_batch_new(mb_model *model, int max_sessions, int n_ctx, int n_threads,
                              mb_batch **out);
MB_API void mb_batch_free(mb_batch *batch);
/* Feed IDS[i] to SESSIONS[i] (distinct sessions of the batch's model) at
 * its current position, for i < N, and advance each: afterwards each
 * session is as mb_session_eval of that one token leaves it, logits
 * included. Fails, feeding nothing, if a session's context is full. */
MB_API mb_status mb_batch_decode(mb_batch *batch, mb_session *const *sessions, const mb_token *ids,
                                 int n);

/* ---- sampling -------------------------------------------------------- */

typedef struct {
    size_t struct_size;      /* sizeof(mb_sampler_params): set by mb_sampler_default_params() */
    float temperature;       /* <= 0: greedy */
    int top_k;               /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    int repeat_last_n;       /* window of recent tokens the penalties look at */
    uint64_t seed;
} mb_sampler_params;

MB_API mb_sampler_params mb_sampler_default_params(void);

MB_API mb_status mb_sampler_new(const mb_sampler_params *params, int n_vocab, mb_sampler **out);
MB_API void mb_sampler_free(mb_sampler *sampler);
/* Remember a token for the penalties (prompt tokens included). */
MB_API void mb_sampler_accept(mb_sampler *sampler, mb_token id);
MB_API mb_token mb_sampler_sample(mb_sampler *sampler, const float *logits);

/* ---- constrained decoding ------------------------------------------- */

/* A compiled GBNF grammar (llama.cpp's syntax: `name ::= ...`, |, (),
 * "literals" and [classes] with \n \t \r \" \\ \xHH \uHHHH \UHHHHHHHH
 * escapes, [^...], `.`, * + ? {m} {m,} {m,n}, # comments). Immutable:
 * any number of threads may use one at once. */
typedef struct mb_grammar mb_grammar;

/* Compile GBNF TEXT (LEN bytes) with start rule ROOT (NULL: "root").
 * MB_ERR_FORMAT with "grammar line L col C: reason" on a bad grammar (an
 * undefined rule is named; a left-recursive rule is refused: the matcher
 * would never read a character). */
MB_API mb_status mb_grammar_parse(const char *text, size_t len, const char *root, mb_grammar **out);
MB_API void mb_grammar_free(mb_grammar *g);

/* Constrain SAMPLER to texts G accepts, over MODEL's vocabulary (G may
 * be freed afterwards; NULL G removes the constraint). An end-of-
 * generation token is allowed only where G is complete; other control
 * tokens never. Where G is complete and allows nothing more, generation
 * stops (MB_STOP_EOG; mb_sampler_sample returns an end-of-generation
 * token). Each mb_sampler_sample advances the grammar past the token it
 * returns. The sampler first draws as usual and keeps the token when the
 * grammar allows it; otherwise it masks every token the grammar forbids
 * and draws again (so top-k, top-p and min-p apply to the allowed tokens
 * then). A generation whose parse stacks pass the matcher's caps (an
 * ambiguous grammar) ends with MB_ERR_UNSUPPORTED saying so. mb_generate
 * runs without speculative decoding when the sampler has a grammar. */
MB_API mb_status mb_sampler_set_grammar(mb_sampler *s, const mb_model *model, const mb_grammar *g);

/* ---- generation ------------------------------------------------------ */

/* ---- speculative decoding ------------------------------------------- */

/* Generation that drafts several tokens cheaply and has the model check
 * them all in one batched forward pass (one read of the weights), keeping
 * the accepted ones: the output is what plain generation gives (greedy:
 * the same tokens; sampling: the same distribution, by the rejection
 * scheme of speculative sampling). A rejected draft's positions are
 * dropped from the KV cache with mb_session_rewind. Drafts come from a
 * smaller model with the same vocabulary (DRAFT), or, when LOOKUP_N > 0 and
 * no DRAFT is given, from the text so far: the longest recent earlier
 * occurrence of its last LOOKUP_N..1 tokens, and the tokens that followed
 * it (prompt lookup: summaries, edits and answers quoting their sources
 * repeat the prompt). A speculative generation allocates its buffers (the
 * logits of K+1 positions, a distribution per draft) once per mb_generate
 * call; its steps allocate nothing. */
typedef struct {
    size_t struct_size; /* sizeof(mb_speculative_params): mb_speculative_default_params() */
    /* A session of the draft model (same vocabulary as the target's: n_vocab
     * and token texts, else mb_generate refuses it), used by one generation
     * at a time. It is kept in step with the target session: whatever it
     * holds that differs from the target's tokens is rewound, the rest is
     * reused. NULL: no draft model. */
    mb_session *draft;
    int draft_max; /* tokens drafted per step, at most (1..256) */
    int draft_min; /* fewer drafted than this: a plain step instead */
    int lookup_n;  /* prompt lookup: longest n-gram matched; 0: off */
} mb_speculative_params;

/* draft NULL, draft_max 6, draft_min 1, lookup_n 0: off until a draft or a
 * lookup is set. Six drafts make a pass of 7 tokens: on AVX-512 a batch of
 * 8 rows or more goes through packed weight panels, which cost more to set
 * up than such a pass saves and round K-quant products differently from a
 * decode step (docs/PERFORMANCE.md, "Speculative decoding"). */
MB_API mb_speculative_params mb_speculative_default_params(void);

/* Called with each decoded piece of text; always whole UTF-8 characters.
 * Return non-zero to stop. */
typedef int (*mb_text_cb)(const char *text, size_t len, void *user);
/* Called with each generated token id and the logits it was sampled from. */
typedef int (*mb_token_cb)(mb_token id, const float *logits, int n_vocab, void *user);

typedef struct {
    size_t struct_size;      /* sizeof(mb_generate_params): set by mb_generate_default_params() */
    int n_predict;           /* max new tokens; < 0: until the context is full */
    const char *const *stop; /* stop strings, NULL-terminated list (may be NULL) */
    mb_text_cb on_text;
    mb_token_cb on_token;
    void *user;
    /* Leading prompt tokens the session already holds at positions
     * 0..n_cached-1 (its n_past must be n_cached, less than the prompt's
     * length): only the rest is evaluated. A server reuses a previous
     * request's prefix this way. */
    size_t n_cached;
    /* Speculative decoding (above); NULL, or a draft and lookup both off:
     * plain generation. Stop strings, callbacks, n_predict, end of
     * generation and a full context end it exactly as plain generation:
     * tokens drafted past the stop are neither reported nor left fed. */
    const mb_speculative_params *speculative;
} mb_generate_params;

/* n_predict 128, no stop strings, no callbacks, nothing cached. */
MB_API mb_generate_params mb_generate_default_params(void);

/* Why a generation ended. */
typedef enum {
    MB_STOP_MAX_TOKENS,   /* n_predict tokens were generated */
    MB_STOP_EOG,          /* the model sampled an end-of-generation token */
    MB_STOP_STRING,       /* the text reached one of the stop strings */
    MB_STOP_CALLBACK,     /* on_text or on_token returned non-zero */
    MB_STOP_CONTEXT_FULL, /* the session's context is full */
    MB_STOP_ABORTED       /* the session's abort callback asked to stop */
} mb_stop_reason;

/* A short name for a stop reason ("max tokens", "end of generation", ...).
 * Never NULL; "unknown" for a value outside the enum. */
MB_API const char *mb_stop_reason_str(mb_stop_reason reason);

typedef struct {
    int n_prompt, n_generated; /* n_prompt counts the cached tokens too */
    int n_cached;              /* prompt tokens not evaluated: mb_generate_params.n_cached */
    double prefill_seconds, decode_seconds;
    mb_stop_reason stop_reason;
    /* Since 0.3, written only when the mb_generate_params given have the
     * speculative field (a program built with this header; not with NULL
     * params), so that an older program's smaller struct is not overrun. */
    int n_drafted;  /* tokens drafted (speculative decoding) */
    int n_accepted; /* drafted tokens the model accepted */
    int n_forwards; /* forward passes of the model after the prefill: with
                       speculation fewer than n_generated */
} mb_generate_stats;

/* Prefill PROMPT (already tokenized) and generate: sample from the last
 * logits, stream the token's text, feed it, until a stop reason. PARAMS NULL:
 * the defaults. STATS (may be NULL) is filled in on success and on
 * MB_ERR_ABORTED.
 *
 * If the session's abort callback stops the prefill, nothing of the prompt
 * is fed (the session is where the call started) and the call returns
 * MB_ERR_ABORTED; if it stops the decoding, the tokens generated so far stay
 * fed, the token being fed is not, and the call returns MB_OK with stop
 * reason MB_STOP_ABORTED. On another failure the session holds what was fed
 * before it. The sampler has accepted the prompt and every generated token. */
MB_API mb_status mb_generate(mb_session *session, mb_sampler *sampler, const mb_token *prompt,
                             size_t n_prompt, const mb_generate_params *params,
                             mb_generate_stats *stats);

/* ---- chat templates -------------------------------------------------- */

/* One message of a conversation; role is "system", "user" or "assistant". */
typedef struct {
    const char *role;
    const char *content;
} mb_chat_message;

/* The names --chat-template accepts, comma-separated ("chatml, llama2, ..."). */
MB_API const char *mb_chat_template_names(void);

/* The template used for MODEL: OVERRIDE when not NULL (one of
 * mb_chat_template_names(), or "jinja": the model's own), else "jinja" when
 * the model has a template (mb_chat_has_template), else ChatML as a
 * fallback. *name gets a static string. *is_fallback (may be
 * NULL) is set when the file has no template and ChatML stands in for it.
 * MB_ERR_UNSUPPORTED for a template of no known family, MB_ERR_INVALID_ARG
 * for an unknown OVERRIDE; both messages name the choices. */
MB_API mb_status mb_chat_template_name(const mb_model *model, const char *override,
                                       const char **name, int *is_fallback);

/* Render N messages as the model's chat template (its own Jinja template
 * unless OVERRIDE names a built-in family) gives them,
 * with the opening of the assistant's answer at the end when
 * ADD_GENERATION_PROMPT is set. Writes at most CAP bytes, and a NUL when
 * there is room; *n_out gets the text's length, so CAP 0 measures.
 * MB_ERR_INVALID_ARG if CAP was too small or a role is unknown. */
MB_API mb_status mb_chat_apply(const mb_model *model, const char *override,
                               const mb_chat_message *msgs, size_t n, int add_generation_prompt,
                               char *buf, size_t cap, size_t *n_out);

/* Rendering with the template itself (a Jinja program, rendered as Hugging
 * Face's transformers does: docs/USER_GUIDE.md, "Chat templates"). */
typedef struct {
    size_t struct_size;        /* sizeof(mb_chat_render_params): mb_chat_render_default_params() */
    const char *messages_json; /* a JSON array of messages: role, content, and where the
                                  template reads them tool_calls, tool_call_id, name,
                                  reasoning_content */
    const char *tools_json;    /* a JSON array of tools, or NULL (tools undefined) */
    const char *vars_json;     /* a JSON object of extra variables (enable_thinking, ...),
                                  or NULL; they override bos_token and eos_token too */
    const char *template_text; /* NULL: the model's (mb_model_set_chat_template, else
                                  tokenizer.chat_template) */
    size_t template_len;
    int add_generation_prompt;
    const char *now; /* "YYYY-MM-DDTHH:MM:SS", the time strftime_now sees; NULL: now */
} mb_chat_render_params;

/* Render P's conversation with a Jinja chat template. MODEL (may be NULL
 * when P names the template) gives the template and bos_token/eos_token
 * (its special tokens' texts; "" without a model). On success *out is a
 * malloc'd NUL-terminated string (free it) of *out_len bytes. A template
 * error is MB_ERR_FORMAT with "template line N: reason", or the template's
 * own raise_exception message; MB_ERR_INVALID_ARG when no template is
 * given and the model has none. */
MB_API mb_chat_render_params mb_chat_render_default_params(void);
MB_API mb_status mb_chat_render_template(const mb_model *model, const mb_chat_render_params *p,
                                         char **out, size_t *out_len);

/* Use TEXT (a Jinja chat template, LEN bytes, copied) instead of the file's
 * tokenizer.chat_template for every later rendering (--chat-template-file). */
MB_API mb_status mb_model_set_chat_template(mb_model *model, const char *text, size_t len);

/* 1 if MODEL has a Jinja template to render (its own or one set), 0 if
 * rendering falls back to a built-in family. */
MB_API int mb_chat_has_template(const mb_model *model);

/* The add_special to tokenize a rendered chat with: 0 when TEXT already
 * starts with the BOS token's text (templates often write it), so that BOS
 * is not doubled; 1 otherwise. */
MB_API int mb_chat_add_special(const mb_model *model, const char *text, size_t len);

#ifdef __cplusplus
}
#endif
#endif
