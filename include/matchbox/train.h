/* matchbox/train.h: training on the device, in float32 on the CPU
 * (docs/TRAINING.md):
 *
 * - mb_train: a llama-architecture model from scratch, with checkpoints
 *   that resume exactly;
 * - mb_distill: the same, with a teacher model's distribution in the loss;
 * - mb_finetune: LoRA adapters on a frozen base model;
 * - mb_bpe_train_file: a byte-level BPE vocabulary for a new model.
 *
 * Each entry point runs to the end in the calling thread (starting worker
 * threads of its own) and reports through the callbacks of its params,
 * called on the calling thread; runs with different outputs may proceed
 * concurrently on different threads. Outputs are written atomically: a file
 * appears complete or not at all. On failure mb_last_error() on the calling
 * thread says why; the result struct then holds what the run had measured. */
#ifndef MATCHBOX_TRAIN_H
#define MATCHBOX_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <matchbox.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the configuration ----------------------------------------------- */

/* The model's shape and the optimizer's hyper-parameters: the keys of a
 * config file (docs/TRAINING.md lists them). A plain struct, copied freely. */
typedef struct {
    int dim, n_layers, n_heads, n_kv_heads, ffn, ctx, vocab;
    int batch, grad_accum;
    float lr, min_lr, beta1, beta2, adam_eps, weight_decay, clip;
    int warmup, steps, eval_every, eval_batches, ckpt_every;
    uint64_t seed;
    bool tied;
    float rope_base, rms_eps, init_std;
    char tokenizer[1024]; /* path of the GGUF whose tokenizer.* keys are used */
} mb_train_config;

/* Fill C with the defaults of every key (a tiny model); vocab is 0 until a
 * tokenizer sets it. */
MB_API void mb_train_config_default(mb_train_config *c);
/* Apply "key=value" lines from TEXT (# comments, blank lines) to C. An
 * unknown key or a bad value is MB_ERR_INVALID_ARG naming SOURCE and the
 * line; the lines before it have been applied. */
MB_API mb_status mb_train_config_parse(mb_train_config *c, const char *text, const char *source);
/* mb_train_config_parse of the file at PATH. */
MB_API mb_status mb_train_config_load(mb_train_config *c, const char *path);
/* Shape and hyper-parameter sanity (dim divisible by heads, ...):
 * MB_ERR_INVALID_ARG with a message naming the key. */
MB_API mb_status mb_train_config_check(const mb_train_config *c);

/* ---- progress -------------------------------------------------------- */

/* One optimizer step, as it finishes. */
typedef struct {
    int step;           /* 1-based */
    int steps;          /* of the schedule (the config's steps) */
    double loss;        /* mean training loss of the step */
    double val_loss;    /* held-out loss measured after it; < 0: not measured */
    float lr;           /* learning rate of the step */
    double grad_norm;   /* global gradient norm before clipping */
    double tok_per_s;   /* training tokens per second since the run started */
    double eta_seconds; /* estimated time to the last step of this run */
} mb_train_progress;

typedef void (*mb_train_progress_cb)(const mb_train_progress *progress, void *user);
/* A message for a person (memory needed, corpus size, checkpoints written,
 * held-out losses): TEXT is what a terminal would show, ending in "\n" (or
 * "\r" for a line that the next one overwrites). Valid during the call. */
typedef void (*mb_train_log_cb)(const char *text, void *user);

/* ---- training from scratch and distillation -------------------------- */

typedef struct {
    const char *corpus_path; /* text to train on (required) */
    const char *val_path;    /* NULL (default): hold out the last val_split of the corpus */
    const char *out_path;    /* the trained model (required) */
    const char *resume_path; /* NULL (default): start fresh; else a checkpoint or F32 output */
    const char *ckpt_path;   /* NULL (default): OUT.ckpt.gguf */
    int n_threads;           /* 0 (default): the number of physical cores */
    float val_split;         /* default 0.05 */
    /* > 0: end after this many optimizer steps, as if interrupted there (the
     * learning-rate schedule still runs to the config's steps); resuming the
     * output continues the same run. 0 (default): run to the end. */
    int stop_at;
    bool f16; /* write the output in F16 (not resumable); default F32 with train state */
    mb_train_progress_cb progress; /* NULL (default): none */
    mb_train_log_cb log;           /* NULL (default): none */
    void *user;                    /* passed to progress and log */
} mb_train_params;

/* The defaults above; new fields get a default here. */
MB_API mb_train_params mb_train_default_params(void);

/* What a run measured (losses are mean cross-entropy per token; < 0: not
 * measured). */
typedef struct {
    double first_loss, last_loss, last_val_loss;
    double tok_per_s;    /* training tokens per second */
    double fwd_s, bwd_s; /* seconds in the forward and backward passes */
} mb_train_result;

/* Train the model of config C (its tokenizer key names the vocabulary; a
 * vocab of 0 takes the tokenizer's size) on P's corpus from scratch, or from
 * P->resume_path: every ckpt_every steps a checkpoint goes to the checkpoint
 * path, and at the end the model to P->out_path (F32 with the train state,
 * so it can be resumed, or F16). Two runs with the same config and seed give
 * the same bytes, for any thread count. Refused before any work when the
 * corpus is shorter than ctx + 2 tokens or the model needs more memory than
 * is available. *OUT (may be NULL) gets the losses. */
MB_API mb_status mb_train(const mb_train_config *c, const mb_train_params *p, mb_train_result *out);

typedef struct {
    const char *teacher_path; /* any GGUF matchbox runs, with the student's vocabulary */
    float temperature;        /* T > 0 (default 2) */
    float alpha;              /* weight of the KL term, in [0, 1] (default 0.5) */
    /* 0 (default): the teacher's full distribution, computed for every
     * window as it is drawn; K > 0: its top K logits, computed once for
     * every aligned window of the corpus before training and kept in memory. */
    int topk;
    /* Start the student from a slice of the teacher (evenly spaced layers,
     * leading rows/columns of each matrix) instead of random weights. */
    bool init_from_teacher;
} mb_distill_params;

/* The defaults above; new fields get a default here. */
MB_API mb_distill_params mb_distill_default_params(void);

/* mb_train of the student of config C against the teacher of D: loss =
 * alpha T^2 KL(teacher_T || student_T) + (1 - alpha) cross-entropy. The
 * teacher must share the student's vocabulary (refused otherwise, naming
 * both sizes); it is loaded for the run and freed before it returns. */
MB_API mb_status mb_distill(const mb_train_config *c, const mb_train_params *p,
                            const mb_distill_params *d, mb_train_result *out);

/* ---- LoRA fine-tuning ------------------------------------------------ */

/* Fill C with fine-tuning's defaults: 200 steps of 8 sequences of 128
 * tokens, lr 1e-3 decaying to min_lr, held-out loss every 50 steps, no
 * weight decay. min_lr < 0 (default) means lr / 10 and warmup < 0 (default)
 * steps / 10 (at least 1), worked out when the run starts. The shape keys
 * are ignored: they come from the base model. */
MB_API void mb_finetune_config_default(mb_train_config *c);

typedef struct {
    const char *model_path;  /* the base: a llama GGUF (F32, F16, BF16 or quantized) */
    const char *corpus_path; /* text to train on */
    const char *val_path;    /* NULL (default): hold out the last val_split of the corpus */
    const char *out_path;    /* the adapter (GGUF LoRA layout: --lora, lora-merge) */
    int rank;                /* adapter rank, >= 1 (required; default 0 is refused) */
    float alpha;             /* updates are (alpha / rank) B A x; < 0 (default): rank */
    /* The projections to adapt: any of q,k,v,o,gate,up,down separated by
     * commas, or "all" (NULL, default: all). */
    const char *targets;
    int n_threads;                 /* 0 (default): the number of physical cores */
    float val_split;               /* default 0.1 */
    mb_train_progress_cb progress; /* NULL (default): none */
    mb_train_log_cb log;           /* NULL (default): none */
    void *user;                    /* passed to progress and log */
} mb_finetune_params;

/* The defaults above; new fields get a default here. */
MB_API mb_finetune_params mb_finetune_default_params(void);

typedef struct {
    double val_before, val_after; /* held-out loss over every window; < 0: no held-out text */
    double first_loss, last_loss, tok_per_s;
    size_t n_adapter_params;
} mb_finetune_result;

/* Train LoRA adapters on a frozen copy of P's base model (dequantized to
 * F32 in memory), with C's batch, ctx, optimizer and schedule keys, and
 * write them to P->out_path. The held-out loss is measured over the whole
 * validation text before and after. *OUT (may be NULL) gets the losses. */
MB_API mb_status mb_finetune(const mb_train_config *c, const mb_finetune_params *p,
                             mb_finetune_result *out);

/* ---- tokenizer training ---------------------------------------------- */

typedef struct {
    int n_tokens, n_merges;
    size_t n_words, n_unique; /* words of the text, and distinct ones */
    double seconds;
} mb_bpe_train_stats;

/* Learn a byte-level BPE vocabulary (Sennrich et al. 2016, GPT-2's byte
 * alphabet) of N_VOCAB tokens on TEXT (LEN bytes): 256 bytes, the merges
 * (most frequent adjacent pair first, ties to the smaller ids, so the result
 * is deterministic), and <|endoftext|> as BOS and EOS. Words come from the
 * pre-tokenizer PRE ("gpt-2", "llama-bpe", ...). Write it to PATH as a GGUF
 * with the tokenizer.ggml.* keys (model gpt2), atomically. A text too small
 * to reach N_VOCAB is MB_ERR_INVALID_ARG saying how many it reaches; nothing
 * is written then. *STATS (may be NULL) gets the counts. Thread-safe. */
MB_API mb_status mb_bpe_train_file(const char *text, size_t len, int n_vocab, const char *pre,
                                   const char *path, mb_bpe_train_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
