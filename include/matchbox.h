/* matchbox: run large language models on the device.
 *
 * The public C API. Handles are opaque; every call that can fail returns an
 * mb_status and leaves a readable message, fetched with mb_last_error() on the
 * same thread (like dlerror/errno: the message belongs to the calling thread,
 * so concurrent sessions on different threads never clobber each other's). */
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
#define MB_VERSION_MINOR 2
#define MB_VERSION_PATCH 0
#define MB_STR_(x) #x
#define MB_XSTR_(x) MB_STR_(x)
/* "0.2.0" */
#define MB_VERSION                                                                                 \
    MB_XSTR_(MB_VERSION_MAJOR) "." MB_XSTR_(MB_VERSION_MINOR) "." MB_XSTR_(MB_VERSION_PATCH)
/* 0xMMmmpp: 0x000200 for 0.2.0; compare with >= for "at least this version". */
#define MB_VERSION_NUMBER ((MB_VERSION_MAJOR << 16) | (MB_VERSION_MINOR << 8) | MB_VERSION_PATCH)

/* The version of the library running, "MAJOR.MINOR.PATCH": with a shared
 * library it may differ from the MB_VERSION the app was compiled with (same
 * MAJOR, by the soname). A static string; never NULL; any thread. */
MB_API const char *mb_version(void);

typedef enum {
    MB_OK = 0,
    MB_ERR_IO,          /* open/read/write/rename failed */
    MB_ERR_FORMAT,      /* the file is truncated, corrupt or malformed */
    MB_ERR_UNSUPPORTED, /* well-formed, but a feature matchbox does not handle */
    MB_ERR_INVALID_ARG, /* the caller passed something out of range */
    MB_ERR_NO_MEMORY,   /* allocation failed or would not fit in RAM */
    MB_ERR_CONTEXT_FULL /* a prompt or generation does not fit the context */
} mb_status;

/* A short name for a status ("format error"). Never NULL. */
MB_API const char *mb_status_str(mb_status status);

/* The message left by the last failing call on this thread. Never NULL. */
MB_API const char *mb_last_error(void);

/* The kernel level in use: "ref", "avx2", "avx512" or "neon". */
MB_API const char *mb_kernels_name(void);

/* The number of physical cores (on ARM, of the big cores): what
 * n_threads 0 means in the params below. At least 1; any thread. */
MB_API int mb_n_physical_cores(void);

typedef int32_t mb_token;

typedef struct mb_model mb_model;
typedef struct mb_session mb_session;
typedef struct mb_sampler mb_sampler;

/* ---- models ---------------------------------------------------------- */

typedef struct {
    int use_mmap;   /* -1 (default): read the weights into anonymous memory with huge pages
                     * when they fit in available RAM with headroom (faster decode), map
                     * the file otherwise; 1: always map; 0: always read into memory */
    int use_mlock;  /* lock the weights in RAM */
    int verbose;    /* print load information to stderr */
    int vocab_only; /* load only the tokenizer (vocab-only files too); no sessions */
    /* NULL (default): the pre-tokenizer tokenizer.ggml.pre names; else the
     * name of one to use instead, for byte-level BPE vocabularies ("gpt-2",
     * "llama-bpe", "smollm", "qwen2", "default"). */
    const char *tokenizer_pre;
} mb_model_params;

MB_API mb_model_params mb_model_default_params(void);

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
/* 1 if the weights are read through a page-cache mapping of the file, 0 if
 * they were read into anonymous memory (see mb_model_params.use_mmap). */
MB_API int mb_model_uses_mmap(const mb_model *model);
/* Bytes of weight data, as stored in the file. */
MB_API uint64_t mb_model_weight_bytes(const mb_model *model);
/* One line that describes the model, e.g. "llama 5 layers, dim 64, F32". */
MB_API const char *mb_model_desc(const mb_model *model);

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
    int n_ctx;     /* 0: the smaller of 4096 and the trained context */
    int n_threads; /* 0: the number of physical cores */
    int verbose;   /* print the KV-cache size (per layer kind) and ring rewinds to stderr */
    /* Windowed layers (Gemma, Mistral-style windows) keep a ring of their
     * window plus a margin; 1 gives them full caches too (--swa-full). */
    int swa_full;
} mb_session_params;

MB_API mb_session_params mb_session_default_params(void);

MB_API mb_status mb_session_new(mb_model *model, const mb_session_params *params, mb_session **out);
MB_API void mb_session_free(mb_session *session);

MB_API int mb_session_n_ctx(const mb_session *session);
MB_API int mb_session_n_past(const mb_session *session);
MB_API uint64_t mb_session_kv_bytes(const mb_session *session);
MB_API int mb_session_n_threads(const mb_session *session);

/* Feed N tokens at the current position and advance. On success the logits of
 * the last fed position are available from mb_session_logits(). Fails with
 * MB_ERR_CONTEXT_FULL, and feeds nothing, if they do not fit. */
MB_API mb_status mb_session_eval(mb_session *session, const mb_token *ids, size_t n);
MB_API const float *mb_session_logits(const mb_session *session);
/* As mb_session_eval, and write the logits of every fed position to LOGITS
 * (n x n_vocab floats), as perplexity and KL-divergence evaluation need. */
MB_API mb_status mb_session_eval_all(mb_session *session, const mb_token *ids, size_t n,
                                     float *logits);
/* Forget everything from position POS on (0 clears the cache). A model's
 * windowed layers keep only their window plus a margin of one prefill chunk
 * and 16 positions: rewinding further back than that re-evaluates the
 * POS tokens kept (the session remembers them), so it is exact but costs a
 * prefill (-v says so). */
MB_API mb_status mb_session_rewind(mb_session *session, int pos);

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

/* ---- generation ------------------------------------------------------ */

/* Called with each decoded piece of text; always whole UTF-8 characters.
 * Return non-zero to stop. */
typedef int (*mb_text_cb)(const char *text, size_t len, void *user);
/* Called with each generated token id and the logits it was sampled from. */
typedef int (*mb_token_cb)(mb_token id, const float *logits, int n_vocab, void *user);

typedef struct {
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
} mb_generate_params;

typedef struct {
    int n_prompt, n_generated; /* n_prompt counts the cached tokens too */
    int n_cached;              /* prompt tokens not evaluated: mb_generate_params.n_cached */
    double prefill_seconds, decode_seconds;
    int stopped_by; /* 0 max tokens, 1 end-of-generation, 2 stop string, 3 callback, 4 ctx full */
} mb_generate_stats;

/* Prefill PROMPT (already tokenized) and generate. */
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
