/* Model-level quantization: presets that choose a type per tensor the way
 * llama.cpp's presets of the same names do (docs/QUANTIZE.md), and the
 * streaming GGUF-to-GGUF quantizer. */
#ifndef MB_QUANTIZE_QUANTIZE_H
#define MB_QUANTIZE_QUANTIZE_H

#include <stdint.h>
#include <stdio.h>

#include "format/gguf.h"
#include "matchbox.h"
#include "matchbox/quantize.h"
#include "quantize/imatrix.h"

/* Presets, overrides (new/add/free), mb_quantize_params and stats,
 * mb_quantize_file and mb_quant_compare are public: matchbox/quantize.h. */

/* What the type rules need to know about the whole model, and the counters
 * they advance as tensors go by in file order (as the reference does). */
typedef struct {
    int n_layer;
    int n_gqa;    /* n_head / n_head_kv (1 if unknown) */
    int n_expert; /* 0 or 1: dense */
    int has_output;
    int n_attn_v, i_attn_v; /* attn_v / attn_qkv tensors: total, seen */
    int i_ffn_down;
    int allow_fallback; /* legacy presets: F16 for rows their block does not divide */
} mb_quant_rules;

typedef struct {
    uint32_t type;   /* the type to write */
    uint32_t wanted; /* the type the preset wanted, before a fallback */
    int quantize;    /* 0: copied unchanged */
    int fallback;    /* 1: TYPE is a fallback for WANTED */
    int fixed;       /* 1: chosen by the user (an override), not to be re-planned */
} mb_quant_choice;

/* The type of one tensor. Tensors must be passed in file order (counters).
 * Fails (MB_ERR_UNSUPPORTED) where the reference refuses: a legacy type
 * whose block does not divide the row, without allow_fallback. */
mb_status mb_quant_choose(const mb_quant_preset *p, mb_quant_rules *r, const char *name,
                          uint32_t n_dims, const uint64_t *ne, uint32_t cur_type,
                          mb_quant_choice *out);

/* Whether NAME is a weight matrix presets quantize (not a norm, router,
 * position embedding, ...). */
int mb_quant_is_weight(const char *name, uint32_t n_dims);
/* OUT for a tensor that is to get type T: T itself, or the reference's
 * fallback where T's block does not divide the row (or an error). */
mb_status mb_quant_settle(const mb_quant_rules *r, const char *name, const uint64_t *ne, uint32_t t,
                          uint32_t cur_type, mb_quant_choice *out);

/* Per-tensor type overrides (override.c): llama-quantize's --tensor-type
 * PATTERN=TYPE (POSIX extended regex searched in the name; the first
 * matching rule wins), --output-tensor-type (output.weight, or a tied
 * token_embd.weight) and --token-embedding-type. Roles go before rules. */
/* 1 and *TYPE if a rule names tensor NAME (HAS_OUTPUT: the model has its own
 * output.weight); 0 if none. */
int mb_quant_overrides_match(const mb_quant_overrides *o, const char *name, int has_output,
                             uint32_t *type);

/* Re-plans the per-tensor types after the preset and the overrides, before
 * any method sees them (quantize --target-bpw: quantize/alloc.h). It may
 * change TYPE (and wanted/fallback/quantize) of tensors not FIXED. */
typedef struct {
    mb_status (*plan)(void *user, const mb_gguf *in, const mb_quant_rules *rules,
                      mb_quant_choice *plan);
    void *user;
} mb_quant_planner;

/* Calibrated methods (GPTQ, AWQ: quantize/gptq.h) plug in here. */
typedef struct {
    /* Once, after every tensor's type is planned, before the output exists. */
    mb_status (*prepare)(void *user, const mb_gguf *in, const mb_quant_choice *plan);
    /* Per tensor, before the plain conversion: either write the tensor's
     * NBYTES to OUT and set *done, or leave *done 0 for the plain path. */
    mb_status (*tensor)(void *user, uint64_t index, void *out, uint64_t nbytes, int *done);
    void *user;
    /* Optional: keys of its own in the output, after the input's. */
    mb_status (*metadata)(void *user, mb_gguf_writer *w);
} mb_quant_hook;

/* mb_quantize_file with a planner and a calibrated method's hook (either
 * NULL): what the public entry point runs once it has built them. */
mb_status mb_quantize_run(const char *in, const char *out, const mb_quantize_params *params,
                          const mb_quant_hook *hook, const mb_quant_planner *planner,
                          mb_quantize_stats *stats);

#endif
