/* Model-level quantization: presets that choose a type per tensor the way
 * llama.cpp's presets of the same names do (docs/QUANTIZE.md), and the
 * streaming GGUF-to-GGUF quantizer. */
#ifndef MB_QUANTIZE_QUANTIZE_H
#define MB_QUANTIZE_QUANTIZE_H

#include <stdint.h>
#include <stdio.h>

#include "format/gguf.h"
#include "matchbox.h"
#include "quantize/imatrix.h"

typedef struct {
    const char *name;   /* "Q4_K_M" */
    uint32_t ftype;     /* general.file_type (llama_ftype) written to the output */
    uint32_t base_type; /* mb_type most tensors get */
    const char *desc;
} mb_quant_preset;

/* Case-insensitive lookup; NULL if unknown. */
const mb_quant_preset *mb_quant_preset_find(const char *name);
int mb_quant_preset_count(void);
const mb_quant_preset *mb_quant_preset_at(int i);
/* "F16, BF16, Q8_0, ..." in a static buffer, for error messages. */
const char *mb_quant_preset_names(void);

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
typedef struct mb_quant_overrides mb_quant_overrides;
mb_status mb_quant_overrides_new(mb_quant_overrides **out);
void mb_quant_overrides_free(mb_quant_overrides *o);
mb_status mb_quant_overrides_add(mb_quant_overrides *o, const char *spec);
/* OUTPUT 1: --output-tensor-type, 0: --token-embedding-type. */
mb_status mb_quant_overrides_set_role(mb_quant_overrides *o, int output, const char *type);
/* 1 and *TYPE if a rule names tensor NAME (HAS_OUTPUT: the model has its own
 * output.weight); 0 if none. */
int mb_quant_overrides_match(const mb_quant_overrides *o, const char *name, int has_output,
                             uint32_t *type);
int mb_quant_overrides_count(const mb_quant_overrides *o);

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
} mb_quant_hook;

typedef struct {
    int n_threads;        /* 0: physical cores */
    int allow_requantize; /* accept quantized input tensors */
    int allow_fallback;   /* see mb_quant_rules */
    FILE *progress;       /* one line per tensor; NULL: quiet */
    /* Importance-weighted fits (quantize/imatrix.h; NULL: plain), and with
     * smooth_alpha > 0 SmoothQuant scales from its maxima (smooth.h). */
    const mb_imatrix *imatrix;
    float smooth_alpha;
    const mb_quant_hook *hook;           /* NULL: plain rounding */
    const mb_quant_overrides *overrides; /* NULL: the preset's types */
    const mb_quant_planner *planner;     /* NULL: no re-planning */
} mb_quantize_params;

typedef struct {
    uint64_t bytes_in, bytes_out; /* tensor data */
    uint64_t file_in, file_out;   /* whole files */
    uint64_t n_weights;           /* elements of all tensors */
    int n_tensors, n_converted, n_fallback;
    int n_weighted, n_smooth_groups; /* tensors fitted with importances; norms smoothed */
    double seconds;
} mb_quantize_stats;

/* Quantize IN to OUT with PRESET (a name from the list). OUT is written
 * atomically; memory stays near one tensor's bytes (input is mapped). */
mb_status mb_quantize_file(const char *in, const char *out, const char *preset,
                           const mb_quantize_params *params, mb_quantize_stats *stats);

/* Weight error of FILE against BASE (same tensor names and shapes, any
 * types): RMSE over every tensor element, and the share of blocks of
 * quantized tensors whose bytes equal those of REF_FILE (NULL: skip). */
typedef struct {
    double rmse;         /* sqrt(mean squared difference) over all compared elements */
    double max_abs;      /* largest absolute difference */
    uint64_t n_compared; /* elements */
    uint64_t n_blocks, n_blocks_same;
} mb_quant_compare_result;

mb_status mb_quant_compare(const char *base, const char *file, const char *ref_file,
                           mb_quant_compare_result *out);

#endif
