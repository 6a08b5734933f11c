/* Will a model run here, and how? The memory plan of a configuration, from a
 * GGUF's metadata and tensor table alone (the tensor data is never read):
 * where the weights live, the KV cache, the forward pass's buffers, the
 * tokenizer, the threads' scratch, each serving slot; the context that fits;
 * the expected decode speed from a memory bandwidth. Sessions and engines
 * refuse a configuration with the same plan (docs/USER_GUIDE.md, "fit"). */
#ifndef MATCHBOX_FIT_H
#define MATCHBOX_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the weights live. */
typedef enum {
    MB_FIT_WEIGHTS_MEMORY = 0,   /* read into anonymous memory (the default when they fit) */
    MB_FIT_WEIGHTS_MMAP = 1,     /* mapped: the pages decode reads stay resident */
    MB_FIT_WEIGHTS_STREAMED = 2, /* a memory budget: a resident part and a ring of layers */
} mb_fit_weights;

/* Layer buffers a streamed plan keeps besides its budget: the layer being
 * computed and the one the prefetch threads read ahead of it. */
enum { MB_FIT_RING_LAYERS = 2 };

typedef struct {
    size_t struct_size; /* sizeof(mb_fit_params): set by mb_fit_default_params() */
    int n_ctx;          /* 0: the smaller of 4096 and the trained context, as sessions */
    int n_threads;      /* 0: physical cores (each slot's share with several slots) */
    int n_slots;        /* sessions over one model (serve --slots); 1 */
    /* KV cache types (GGUF type ids): 1 F16 (default), 8 Q8_0 (34 bytes per
     * 32 values), 2 Q4_0 (18 bytes per 32 values). */
    int kv_type_k, kv_type_v;
    int use_mmap; /* -1: as the loader chooses (memory when the file fits with headroom); 0; 1 */
    int swa_full; /* windowed layers keep full caches (--swa-full) */
    uint64_t ram; /* bytes the process may use; 0: MemAvailable now */
    /* Weights under this budget (--mem-budget): streamed layer by layer when
     * they are larger; 0: all resident. */
    uint64_t mem_budget;
    uint64_t base_bytes; /* the program's own resident bytes before loading; 0: an estimate */
    double mem_gbs;      /* memory read bandwidth, GB/s, for the speed; 0: no speed */
    double disk_gbs;     /* storage read bandwidth for streamed weights; 0: 1.0 GB/s */
    /* serve --kv-budget: the slots share a paged KV cache of this many
     * bytes (whole blocks of 64 positions) instead of a full context each;
     * 0: a full context each. */
    uint64_t kv_budget;
} mb_fit_params;

typedef struct {
    /* The model, from its metadata. */
    char arch[32];
    int n_layer, n_ctx_train, n_vocab, n_embd, n_head, n_head_kv, head_dim, n_expert;
    uint64_t file_bytes, weight_bytes, layer_bytes_max;
    /* The configuration judged (defaults resolved). */
    int n_ctx, n_batch, n_threads, n_slots, kv_type_k, kv_type_v;
    mb_fit_weights weights_mode;
    uint64_t mem_budget;
    /* Predicted peak resident bytes, by part. Shared by every slot: */
    uint64_t weights; /* the file read into memory, the mapped pages decode reads, or the budget */
    uint64_t ring;    /* streamed: the layer buffers */
    uint64_t vocab;   /* tokenizer tables and the metadata's index */
    uint64_t runtime; /* the program itself: code, libraries, tables */
    uint64_t batch;   /* several slots: the batched decode's workspace and logits */
    /* Each slot's: */
    uint64_t kv;             /* KV cache of n_ctx positions (with kv_budget: the slots' share) */
    uint64_t activations;    /* forward pass: n_batch rows of activations, attention scratch */
    uint64_t logits;         /* logits, their saved copy, the sampler's candidates */
    uint64_t threads;        /* the thread pool's per-thread scratch and stacks */
    uint64_t per_slot;       /* kv + activations + logits + threads + the token history */
    uint64_t total;          /* everything: the predicted peak RSS */
    uint64_t ram;            /* what it was judged against */
    int fits;                /* total <= ram */
    int max_ctx;             /* the largest context that fits ram with these settings; 0: none */
    int max_slots;           /* the most slots that fit at n_ctx; 0: none */
    int kv_fit_type;         /* when it does not fit: a quantized KV type for both K and V that
                                makes it fit (8 Q8_0, then 2 Q4_0); 0: none does */
    uint64_t fit_budget;     /* when it does not fit: the largest --mem-budget that fits, with
                                the weights streamed; 0: none does */
    double fit_budget_tok_s; /* the decode speed under fit_budget (0 without mem_gbs) */
    uint64_t kv_per_token;   /* KV bytes per position, every layer (full layers) */
    /* Decode: bytes read per token, and the speed they allow. */
    uint64_t read_per_token;   /* weights read from memory per token */
    uint64_t stream_per_token; /* weights read from storage per token (streamed) */
    double tok_s, tok_s_full;  /* at an empty and at a full context; 0 without mem_gbs */
} mb_fit_result;

MB_API mb_fit_params mb_fit_default_params(void);

/* Plan PARAMS for the GGUF at PATH: its header and tensor table only. A bad
 * file gets the GGUF reader's error; an unsupported architecture the
 * loader's. */
MB_API mb_status mb_fit(const char *path, const mb_fit_params *params, mb_fit_result *out);

/* What would make R fit, as flags ("-c 2048", "--kv-type q8_0",
 * "--mem-budget 1.2G", "--slots 2"), into BUF; "" when it fits or nothing
 * does. Returns the length. */
MB_API size_t mb_fit_suggest(const mb_fit_result *r, char *buf, size_t cap);

/* The verdict in one line, into BUF: "runs resident: ...", "runs streamed ...",
 * "does not fit: ...". Returns the length. */
MB_API size_t mb_fit_verdict(const mb_fit_result *r, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
