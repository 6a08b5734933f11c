/* Presets and the per-tensor type rules, following llama.cpp's
 * llama_tensor_get_type for its presets of the same names (the facts are
 * listed in docs/QUANTIZE.md; IQ types and Falcon-only rules are left out). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "quantize/quantize.h"
#include "tensor/types.h"

static const mb_quant_preset presets[] = {
    {"F32", 0, MB_TYPE_F32, "32-bit float"},
    {"F16", 1, MB_TYPE_F16, "16-bit float"},
    {"BF16", 32, MB_TYPE_BF16, "bfloat16"},
    {"Q8_0", 7, MB_TYPE_Q8_0, "8.5 bpw, 32-value blocks"},
    {"Q4_0", 2, MB_TYPE_Q4_0, "4.5 bpw, symmetric"},
    {"Q4_1", 3, MB_TYPE_Q4_1, "5.0 bpw, with offset"},
    {"Q5_0", 8, MB_TYPE_Q5_0, "5.5 bpw, symmetric"},
    {"Q5_1", 9, MB_TYPE_Q5_1, "6.0 bpw, with offset"},
    {"Q2_K", 10, MB_TYPE_Q2_K, "Q2_K; attn_v Q3_K/Q4_K, ffn_down and attn_output Q3_K"},
    {"Q3_K_S", 11, MB_TYPE_Q3_K, "Q3_K everywhere"},
    {"Q3_K_M", 12, MB_TYPE_Q3_K, "Q3_K; attn_v Q5_K/Q4_K, attn_output Q4_K, ffn_down Q5_K/Q4_K"},
    {"Q3_K_L", 13, MB_TYPE_Q3_K, "Q3_K; attn_v, attn_output, ffn_down Q5_K"},
    {"Q4_K_S", 14, MB_TYPE_Q4_K, "Q4_K; first attn_v and first 1/8 of ffn_down Q5_K"},
    {"Q4_K_M", 15, MB_TYPE_Q4_K, "Q4_K; half of attn_v and ffn_down Q6_K"},
    {"Q5_K_S", 16, MB_TYPE_Q5_K, "Q5_K everywhere"},
    {"Q5_K_M", 17, MB_TYPE_Q5_K, "Q5_K; half of attn_v and ffn_down Q6_K"},
    {"Q6_K", 18, MB_TYPE_Q6_K, "Q6_K everywhere"},
};
enum { N_PRESETS = sizeof presets / sizeof *presets };

const mb_quant_preset *mb_quant_preset_find(const char *name) {
    for (int i = 0; name && i < N_PRESETS; i++)
        if (strcasecmp(name, presets[i].name) == 0) return &presets[i];
    return NULL;
}
int mb_quant_preset_count(void) {
    return N_PRESETS;
}
const mb_quant_preset *mb_quant_preset_at(int i) {
    return i >= 0 && i < N_PRESETS ? &presets[i] : NULL;
}
static char names_buf[256];

static void build_names(void) {
    size_t len = 0;
    for (int i = 0; i < N_PRESETS; i++)
        len += (size_t)snprintf(names_buf + len, sizeof names_buf - len, "%s%s", i ? ", " : "",
                                presets[i].name);
}

/* Built once: callers on several threads read the same finished string. */
const char *mb_quant_preset_names(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_names);
    return names_buf;
}

static int is(const mb_quant_preset *p, const char *name) {
    return strcmp(p->name, name) == 0;
}
static int has(const char *s, const char *part) {
    return strstr(s, part) != NULL;
}

/* The reference's "use more bits" layers: the first and last eighth, and
 * every third one in between. */
static int use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Which tensors get the preset's type at all: 2-D+ weights other than
 * norms, MoE routers and position/token-type embeddings. */
static int quantizable(const char *name, uint32_t n_dims) {
    size_t len = strlen(name);
    if (len < 6 || strcmp(name + len - 6, "weight") != 0 || n_dims < 2) return 0;
    static const char *const keep[] = {"_norm.weight",         "ffn_gate_inp.weight",
                                       "position_embd.weight", "token_types.weight",
                                       "ssm_conv1d.weight",    "attn_rel_b.weight"};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
        if (has(name, keep[i])) return 0;
    return 1;
}

/* Layer index of a per-layer tensor: MoE models number by name, others by
 * the order of appearance (as the reference does). */
static int layer_of(const mb_quant_rules *r, const char *name, int counter) {
    int i = counter;
    if (r->n_expert > 1 && sscanf(name, "blk.%d.", &i) != 1) i = counter;
    return i;
}

/* The K-quant preset rules (llama_tensor_get_type, non-IQ, non-Falcon). */
static uint32_t k_rules(const mb_quant_preset *p, mb_quant_rules *r, const char *name,
                        const uint64_t *ne, uint32_t t) {
    if (strcmp(name, "output.weight") == 0 ||
        (!r->has_output && strcmp(name, "token_embd.weight") == 0)) {
        const mb_type_traits *tr = mb_type_get(t);
        if (ne[0] % tr->block_size != 0) return MB_TYPE_Q8_0;
        return t == MB_TYPE_Q8_0 ? t : MB_TYPE_Q6_K;
    }
    if (strcmp(name, "token_embd.weight") == 0) return t;
    if (has(name, "attn_v.weight")) {
        if (is(p, "Q2_K"))
            t = r->n_gqa >= 4 ? MB_TYPE_Q4_K : MB_TYPE_Q3_K;
        else if (is(p, "Q3_K_M"))
            t = r->i_attn_v < 2 ? MB_TYPE_Q5_K : MB_TYPE_Q4_K;
        else if (is(p, "Q3_K_L"))
            t = MB_TYPE_Q5_K;
        else if ((is(p, "Q4_K_M") || is(p, "Q5_K_M")) && use_more_bits(r->i_attn_v, r->n_attn_v))
            t = MB_TYPE_Q6_K;
        else if (is(p, "Q4_K_S") && r->i_attn_v < 4)
            t = MB_TYPE_Q5_K;
        if (r->n_expert == 8) t = MB_TYPE_Q8_0;
        r->i_attn_v++;
    } else if (has(name, "attn_k.weight")) {
        if (r->n_expert == 8) t = MB_TYPE_Q8_0;
    } else if (has(name, "ffn_down")) {
        const int il = layer_of(r, name, r->i_ffn_down), nl = r->n_layer;
        if (is(p, "Q2_K"))
            t = MB_TYPE_Q3_K;
        else if (is(p, "Q3_K_M"))
            t = il < nl / 16 ? MB_TYPE_Q5_K : MB_TYPE_Q4_K;
        else if (is(p, "Q3_K_L"))
            t = MB_TYPE_Q5_K;
        else if (is(p, "Q4_K_M") && use_more_bits(il, nl))
            t = MB_TYPE_Q6_K;
        else if (is(p, "Q5_K_M") && use_more_bits(il, nl))
            t = MB_TYPE_Q6_K;
        else if (is(p, "Q4_K_S") && il < nl / 8)
            t = MB_TYPE_Q5_K;
        r->i_ffn_down++;
    } else if (has(name, "attn_output.weight")) {
        if (r->n_expert == 8) {
            if (is(p, "Q2_K") || is(p, "Q3_K_S") || is(p, "Q3_K_M") || is(p, "Q4_K_S") ||
                is(p, "Q4_K_M"))
                t = MB_TYPE_Q5_K;
        } else if (is(p, "Q2_K")) {
            t = MB_TYPE_Q3_K;
        } else if (is(p, "Q3_K_M")) {
            t = MB_TYPE_Q4_K;
        } else if (is(p, "Q3_K_L")) {
            t = MB_TYPE_Q5_K;
        }
    } else if (has(name, "attn_qkv.weight")) {
        if (is(p, "Q3_K_M") || is(p, "Q3_K_L"))
            t = MB_TYPE_Q4_K;
        else if (is(p, "Q4_K_M"))
            t = MB_TYPE_Q5_K;
        else if (is(p, "Q5_K_M"))
            t = MB_TYPE_Q6_K;
    }
    return t;
}

int mb_quant_is_weight(const char *name, uint32_t n_dims) {
    return quantizable(name, n_dims);
}

mb_status mb_quant_settle(const mb_quant_rules *r, const char *name, const uint64_t *ne, uint32_t t,
                          uint32_t cur_type, mb_quant_choice *out) {
    out->wanted = t;
    out->fallback = 0;
    const mb_type_traits *tr = mb_type_get(t);
    if (ne[0] % tr->block_size != 0) {
        /* The reference's fallback chain; it uses IQ4_NL for Q2_K/Q3_K, a
         * type matchbox lacks, so Q4_0 (same 4.5 bpw, same block) here. */
        switch (t) {
        case MB_TYPE_Q2_K:
        case MB_TYPE_Q3_K: t = MB_TYPE_Q4_0; break;
        case MB_TYPE_Q4_K: t = MB_TYPE_Q5_0; break;
        case MB_TYPE_Q5_K: t = MB_TYPE_Q5_1; break;
        case MB_TYPE_Q6_K: t = MB_TYPE_Q8_0; break;
        default:
            if (!r->allow_fallback)
                return mb_errorf(MB_ERR_UNSUPPORTED,
                                 "tensor '%s': row width %llu is not a multiple of %s's block "
                                 "of %u, and %s has no fallback (the reference refuses too; "
                                 "--allow-fallback keeps such tensors in F16)",
                                 name, (unsigned long long)ne[0], tr->name, tr->block_size,
                                 tr->name);
            t = MB_TYPE_F16;
        }
        if (ne[0] % mb_type_get(t)->block_size != 0) t = MB_TYPE_F16;
        out->fallback = 1;
    }
    out->type = t;
    out->quantize = t != cur_type;
    return MB_OK;
}

mb_status mb_quant_choose(const mb_quant_preset *p, mb_quant_rules *r, const char *name,
                          uint32_t n_dims, const uint64_t *ne, uint32_t cur_type,
                          mb_quant_choice *out) {
    memset(out, 0, sizeof *out);
    out->type = out->wanted = cur_type;
    if (!quantizable(name, n_dims)) return MB_OK;
    uint32_t t = p->base_type;
    if (mb_type_get(t)->is_quantized) t = k_rules(p, r, name, ne, t);
    return mb_quant_settle(r, name, ne, t, cur_type, out);
}
