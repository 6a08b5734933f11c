#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"

/* Read "<arch>.<suffix>" as u32 into *out; absent keys keep DEFAULT (< 0:
 * required). */
static mb_status arch_u32(const mb_gguf *g, const char *arch, const char *suffix, long dflt,
                          int *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    mb_status st = mb_gguf_get_u32(g, key, &v);
    if (st == MB_ERR_INVALID_ARG && dflt >= 0) {
        *out = (int)dflt;
        return MB_OK;
    }
    if (st == MB_ERR_INVALID_ARG)
        return mb_errorf(MB_ERR_FORMAT, "required key '%s' is missing", key);
    if (st != MB_OK) return st;
    if (v > (1u << 30)) return mb_errorf(MB_ERR_FORMAT, "key '%s' = %u is out of range", key, v);
    *out = (int)v;
    return MB_OK;
}

static mb_status arch_f32(const mb_gguf *g, const char *arch, const char *suffix, float dflt,
                          float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    mb_status st = mb_gguf_get_f32(g, key, out);
    if (st == MB_ERR_INVALID_ARG) {
        *out = dflt;
        return MB_OK;
    }
    if (st == MB_OK && !isfinite(*out))
        return mb_errorf(MB_ERR_FORMAT, "key '%s' is not a finite number", key);
    return st;
}

static mb_status read_rope_scaling(const mb_gguf *g, mb_hparams *hp) {
    char key[128];
    mb_str type = {"", 0};
    snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch);
    mb_status st = mb_gguf_get_str(g, key, &type);
    if (st != MB_OK && st != MB_ERR_INVALID_ARG) return st;
    float factor = 0;
    if ((st = arch_f32(g, hp->arch, "rope.scaling.factor", 0.0f, &factor))) return st;
    if (factor == 0) {
        /* Older files: rope.scale_linear */
        if ((st = arch_f32(g, hp->arch, "rope.scale_linear", 0.0f, &factor))) return st;
        if (factor != 0 && type.len == 0) type = (mb_str){"linear", 6};
    }
    hp->rope_scaling = MB_ROPE_SCALING_NONE;
    hp->rope_freq_scale = 1.0f;
    /* LongRoPE (Phi-3): per-frequency factor tensors and this cos/sin scale;
     * the reference names no type for it, or "longrope". */
    if ((st = arch_f32(g, hp->arch, "rope.scaling.attn_factor", 1.0f, &hp->rope_attn_factor)))
        return st;
    if (!(hp->rope_attn_factor > 0))
        return mb_errorf(MB_ERR_FORMAT, "%s.rope.scaling.attn_factor must be positive", hp->arch);
    if ((st = arch_u32(g, hp->arch, "rope.scaling.original_context_length", hp->n_ctx_train,
                       &hp->yarn_orig_ctx)))
        return st;
    const int phi3 = strcmp(hp->arch, "phi3") == 0;
    if (type.len == 0 || (type.len == 4 && memcmp(type.ptr, "none", 4) == 0) ||
        (phi3 && type.len == 8 && memcmp(type.ptr, "longrope", 8) == 0))
        return MB_OK;
    if (factor <= 0)
        return mb_errorf(MB_ERR_FORMAT, "rope scaling '%.*s' needs a positive rope.scaling.factor",
                         (int)type.len, type.ptr);
    hp->rope_freq_scale = 1.0f / factor;
    if (type.len == 6 && memcmp(type.ptr, "linear", 6) == 0) {
        hp->rope_scaling = MB_ROPE_SCALING_LINEAR;
        return MB_OK;
    }
    if (type.len == 4 && memcmp(type.ptr, "yarn", 4) == 0) {
        hp->rope_scaling = MB_ROPE_SCALING_YARN;
        hp->yarn_attn_factor = hp->rope_attn_factor;
        /* YaRN paper defaults (alpha = 1, beta = 32). */
        if ((st = arch_f32(g, hp->arch, "rope.scaling.yarn_beta_fast", 32.0f, &hp->yarn_beta_fast)))
            return st;
        return arch_f32(g, hp->arch, "rope.scaling.yarn_beta_slow", 1.0f, &hp->yarn_beta_slow);
    }
    return mb_errorf(MB_ERR_UNSUPPORTED,
                     "rope scaling type '%.*s' is not supported (supported: none, linear, yarn)",
                     (int)type.len, type.ptr);
}

/* The architectures this forward pass runs, and what differs between them
 * (the forward pass as the reference computes each; llama.cpp's converter
 * leaves most of these out of the metadata, so they are facts of the
 * architecture). Mistral and Mixtral files use the llama architecture name
 * (GGUF has no "mistral" architecture; "mistral3" is a different, multimodal
 * model). The RoPE layout is the one the GGUF conversion assumes: llama
 * files store Q/K rows permuted for adjacent pairs, the others keep the
 * Hugging Face layout that rotates halves (NeoX style). */
typedef struct {
    const char *name;
    mb_rope_mode rope_mode;
    int qkv_bias, qk_norm, post_norm, gemma;
    /* The window key: 0 ignored (the reference ignores it: qwen2's unused
     * one, phi3's 2047), 1 on every layer, N > 1 on layers il % N < N - 1;
     * and the window when the file has no key (0: none). */
    int swa_pattern, swa_default;
} arch_info;

static const arch_info ARCHS[] = {
    {"llama", MB_ROPE_NORM, 0, 0, 0, 0, 1, 0},     {"qwen2", MB_ROPE_NEOX, 1, 0, 0, 0, 0, 0},
    {"qwen3", MB_ROPE_NEOX, 0, 1, 0, 0, 0, 0},     {"qwen3moe", MB_ROPE_NEOX, 0, 1, 0, 0, 0, 0},
    {"gemma2", MB_ROPE_NEOX, 0, 0, 1, 1, 2, 4096}, {"gemma3", MB_ROPE_NEOX, 0, 1, 1, 1, 6, 0},
    {"phi3", MB_ROPE_NEOX, 0, 0, 0, 0, 0, 0},
};

static const char SUPPORTED[] =
    "llama (including Mistral and Mixtral files), qwen2, qwen3, qwen3moe, gemma2, gemma3, phi3";

/* Mixture of experts: both counts or neither, and the used ones a subset. */
static mb_status read_experts(const mb_gguf *g, mb_hparams *hp) {
    mb_status st;
    if ((st = arch_u32(g, hp->arch, "expert_count", 0, &hp->n_expert)) ||
        (st = arch_u32(g, hp->arch, "expert_used_count", 0, &hp->n_expert_used)))
        return st;
    if (hp->n_expert == 0 && hp->n_expert_used == 0) return MB_OK;
    if (hp->n_expert > 256 || hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert)
        return mb_errorf(MB_ERR_FORMAT,
                         "%s.expert_count %d and %s.expert_used_count %d: need 1 <= used <= "
                         "count <= 256",
                         hp->arch, hp->n_expert, hp->arch, hp->n_expert_used);
    return MB_OK;
}

int mb_hparams_n_swa_layers(const mb_hparams *hp) {
    int n = 0;
    for (int il = 0; il < hp->n_layer; il++)
        n += hp->swa_layer[il];
    return n;
}

/* Which layers are windowed: the file's attention.sliding_window_pattern
 * when it has one (a period, as the reference reads it), else the
 * architecture's. */
static mb_status read_window(const mb_gguf *g, const arch_info *info, mb_hparams *hp) {
    hp->sliding_window = 0;
    if (info->swa_pattern == 0) return MB_OK;
    mb_status st;
    if ((st = arch_u32(g, hp->arch, "attention.sliding_window", info->swa_default,
                       &hp->sliding_window)))
        return st;
    if (hp->sliding_window == 0) return MB_OK;
    int period = info->swa_pattern;
    if ((st = arch_u32(g, hp->arch, "attention.sliding_window_pattern", period, &period)))
        return st;
    if (period < 1)
        return mb_errorf(MB_ERR_FORMAT, "%s.attention.sliding_window_pattern must be positive",
                         hp->arch);
    for (int il = 0; il < hp->n_layer; il++)
        hp->swa_layer[il] = period == 1 || il % period < period - 1;
    return MB_OK;
}

/* Gemma: embeddings scaled by sqrt(n_embd), GeGLU, Q pre-scaled; Gemma 2's
 * soft caps (defaults 50 and 30 when the file has no keys); the query scale
 * of the 27B models, which differs from 1/sqrt(head size) and is in no key:
 * the reference recognizes them by their layer count (46: Gemma 2, 62:
 * Gemma 3). Gemma 3's windowed layers use their own RoPE base, and linear
 * RoPE scaling applies to its global layers only. */
static mb_status read_gemma(const mb_gguf *g, mb_hparams *hp) {
    hp->embd_scale = sqrtf((float)hp->n_embd);
    hp->ffn_act = MB_FFN_GELU;
    hp->q_prescale = 1;
    const int big = strcmp(hp->arch, "gemma2") == 0 ? 46 : 62;
    if (hp->n_layer == big) hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    mb_status st;
    if (strcmp(hp->arch, "gemma2") == 0) {
        if ((st = arch_f32(g, hp->arch, "attn_logit_softcapping", 50.0f, &hp->attn_softcap)) ||
            (st = arch_f32(g, hp->arch, "final_logit_softcapping", 30.0f, &hp->final_softcap)))
            return st;
        if (hp->attn_softcap < 0 || hp->final_softcap < 0)
            return mb_errorf(MB_ERR_FORMAT, "gemma2 soft caps must not be negative");
        return MB_OK;
    }
    hp->rope_scale_swa = 0;
    if ((st = arch_f32(g, hp->arch, "rope.freq_base_swa", 10000.0f, &hp->rope_base_swa))) return st;
    if (hp->rope_base_swa <= 0)
        return mb_errorf(MB_ERR_FORMAT, "%s.rope.freq_base_swa must be positive", hp->arch);
    return MB_OK;
}

mb_status mb_hparams_read(const mb_gguf *g, mb_hparams *hp) {
    memset(hp, 0, sizeof *hp);
    mb_str arch;
    mb_status st = mb_gguf_get_str(g, "general.architecture", &arch);
    if (st == MB_ERR_INVALID_ARG)
        return mb_errorf(MB_ERR_FORMAT,
                         "key 'general.architecture' is missing (a vocab-only file?)");
    if (st) return st;
    const arch_info *info = NULL;
    for (size_t i = 0; i < sizeof ARCHS / sizeof *ARCHS; i++)
        if (arch.len == strlen(ARCHS[i].name) && memcmp(arch.ptr, ARCHS[i].name, arch.len) == 0)
            info = &ARCHS[i];
    if (!info)
        return mb_errorf(MB_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (supported: %s)",
                         (int)(arch.len > 64 ? 64 : arch.len), arch.ptr, SUPPORTED);
    snprintf(hp->arch, sizeof hp->arch, "%s", info->name);
    hp->rope_mode = info->rope_mode;
    hp->qkv_bias = info->qkv_bias;
    hp->qk_norm = info->qk_norm;
    hp->post_norm = info->post_norm;
    hp->ffn_act = MB_FFN_SILU;
    hp->embd_scale = 1.0f;
    hp->rope_scale_swa = 1;
    if ((st = read_experts(g, hp))) return st;
    if ((st = arch_u32(g, hp->arch, "context_length", -1, &hp->n_ctx_train)) ||
        (st = arch_u32(g, hp->arch, "embedding_length", -1, &hp->n_embd)) ||
        (st = arch_u32(g, hp->arch, "block_count", -1, &hp->n_layer)) ||
        (st = arch_u32(g, hp->arch, "feed_forward_length", -1, &hp->n_ff)) ||
        (st = arch_u32(g, hp->arch, "attention.head_count", -1, &hp->n_head)))
        return st;
    if ((st = arch_u32(g, hp->arch, "attention.head_count_kv", hp->n_head, &hp->n_head_kv)))
        return st;
    if (hp->n_layer > MB_MAX_LAYERS)
        return mb_errorf(MB_ERR_UNSUPPORTED, "%d layers (at most %d are supported)", hp->n_layer,
                         MB_MAX_LAYERS);
    if ((st = arch_u32(g, hp->arch, "expert_feed_forward_length", hp->n_ff, &hp->n_ff_exp)))
        return st;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_ff <= 0 || hp->n_ff_exp <= 0 || hp->n_ctx_train <= 0)
        return mb_errorf(MB_ERR_FORMAT,
                         "hyper-parameters must be positive (embd %d, layers %d, "
                         "heads %d/%d, ffn %d, ctx %d)",
                         hp->n_embd, hp->n_layer, hp->n_head, hp->n_head_kv, hp->n_ff,
                         hp->n_ctx_train);
    if (hp->n_head % hp->n_head_kv != 0)
        return mb_errorf(MB_ERR_FORMAT, "heads do not divide: %d heads, %d kv heads", hp->n_head,
                         hp->n_head_kv);
    /* The head size is the key's where the file has one (qwen3, gemma:
     * n_head x head size may differ from n_embd), else n_embd / n_head. */
    if ((st = arch_u32(g, hp->arch, "attention.key_length", 0, &hp->head_dim))) return st;
    if (hp->head_dim == 0) {
        if (hp->n_embd % hp->n_head != 0)
            return mb_errorf(MB_ERR_FORMAT, "heads do not divide: embd %d, heads %d", hp->n_embd,
                             hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    int v_len = 0;
    if ((st = arch_u32(g, hp->arch, "attention.value_length", hp->head_dim, &v_len))) return st;
    if (v_len != hp->head_dim || hp->head_dim <= 0 || hp->head_dim % 2 != 0 || hp->head_dim > 1024)
        return mb_errorf(MB_ERR_UNSUPPORTED, "head sizes key %d / value %d are not supported",
                         hp->head_dim, v_len);
    if ((st = arch_u32(g, hp->arch, "rope.dimension_count", hp->head_dim, &hp->n_rot))) return st;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return mb_errorf(MB_ERR_FORMAT, "rope.dimension_count %d must be even and <= head size %d",
                         hp->n_rot, hp->head_dim);
    if ((st = arch_f32(g, hp->arch, "rope.freq_base", 10000.0f, &hp->rope_base)) ||
        (st = arch_f32(g, hp->arch, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->rms_eps)))
        return st;
    if (hp->rope_base <= 0 || hp->rms_eps <= 0)
        return mb_errorf(MB_ERR_FORMAT, "rope.freq_base %g and rms epsilon %g must be positive",
                         hp->rope_base, hp->rms_eps);
    hp->rope_base_swa = hp->rope_base;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    /* Phi-3 scales Q before attention, as the reference computes it. */
    hp->q_prescale = strcmp(hp->arch, "phi3") == 0;
    if ((st = read_window(g, info, hp)) || (info->gemma && (st = read_gemma(g, hp)))) return st;
    return read_rope_scaling(g, hp);
}
