/* Tiny random llama models for unit tests, written with the GGUF writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tensor/types.h"
#include "test_util.h"

enum { N_SPECIAL = 3, N_VOCAB = N_SPECIAL + 256 };

typedef struct {
    void *blobs[256];
    int n;
} blob_list;

static void *keep(blob_list *b, void *p) {
    if (p && b->n < 256) b->blobs[b->n++] = p;
    return p;
}

/* Random values with std ~ SCALE, encoded as TYPE (F32 for 1-D tensors);
 * NE2 > 0 makes a 3-D tensor (stacked experts). */
static mb_status add_random3(mb_gguf_writer *w, blob_list *bl, uint64_t *rng, const char *name,
                             uint32_t type, uint64_t ne0, uint64_t ne1, uint64_t ne2, float scale,
                             float offset) {
    uint64_t n = ne0 * (ne1 ? ne1 : 1) * (ne2 ? ne2 : 1);
    float *f = keep(bl, malloc(n * sizeof *f));
    if (!f) return MB_ERR_NO_MEMORY;
    for (uint64_t i = 0; i < n; i++)
        f[i] = offset + scale * mbt_rand_float(rng);
    uint64_t ne[3] = {ne0, ne1, ne2};
    uint64_t bytes = 0;
    if (!mb_type_row_bytes(type, n, &bytes)) return MB_ERR_INVALID_ARG;
    void *data = f;
    if (type != MB_TYPE_F32) {
        const mb_type_traits *tt = mb_type_get(type);
        if (!tt || !tt->from_float) return MB_ERR_UNSUPPORTED;
        data = keep(bl, malloc(bytes));
        if (!data) return MB_ERR_NO_MEMORY;
        tt->from_float(f, data, (int64_t)n);
    }
    return mb_gguf_writer_add_tensor(w, name, type, ne2 ? 3 : ne1 ? 2 : 1, ne, data, bytes);
}

static mb_status add_random(mb_gguf_writer *w, blob_list *bl, uint64_t *rng, const char *name,
                            uint32_t type, uint64_t ne0, uint64_t ne1, float scale, float offset) {
    return add_random3(w, bl, rng, name, type, ne0, ne1, 0, scale, offset);
}

/* The optional parts of a layer: Q/K/V biases and the experts. */
static mb_status add_layer_extras(mb_gguf_writer *w, blob_list *bl, const mbt_tiny_model *c, int il,
                                  uint64_t kv) {
    /* Its own random stream: files with and without extras share the rest. */
    uint64_t stream = c->seed * 7919 + (uint64_t)il + 1, *rng = &stream;
    uint64_t d = (uint64_t)c->n_embd, ff = (uint64_t)c->n_ff, ne = (uint64_t)c->n_expert;
    float ws = 0.5f / (float)sqrt((double)d);
    char name[64];
    mb_status st = MB_OK;
    const char *bias[3] = {"attn_q", "attn_k", "attn_v"};
    uint64_t width[3] = {d, kv, kv};
    for (int k = 0; k < 3 && c->qkv_bias && !st; k++) {
        snprintf(name, sizeof name, "blk.%d.%s.bias", il, bias[k]);
        /* 1: all random; 2: all zero; 3: random Q and K, zero V. */
        int random = c->qkv_bias == 1 || (c->qkv_bias == 3 && k < 2);
        st = add_random(w, bl, rng, name, MB_TYPE_F32, width[k], 0, random ? 0.5f : 0, 0);
    }
    if (st || c->n_expert <= 0) return st;
    const char *exps[3] = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
    snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", il);
    if ((st = add_random(w, bl, rng, name, c->weight_type, d, ne, 1.0f, 0))) return st;
    for (int k = 0; k < 3 && !st; k++) {
        snprintf(name, sizeof name, "blk.%d.%s.weight", il, exps[k]);
        st = add_random3(w, bl, rng, name, c->weight_type, k == 2 ? ff : d, k == 2 ? d : ff, ne, ws,
                         0);
    }
    return st;
}

static mb_status add_vocab(mb_gguf_writer *w) {
    static char texts[N_VOCAB][8];
    const char *tokens[N_VOCAB];
    float scores[N_VOCAB];
    int32_t types[N_VOCAB];
    const char *special[N_SPECIAL] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < N_VOCAB; i++) {
        if (i < N_SPECIAL)
            snprintf(texts[i], sizeof texts[i], "%s", special[i]);
        else
            snprintf(texts[i], sizeof texts[i], "<0x%02X>", i - N_SPECIAL);
        tokens[i] = texts[i];
        scores[i] = 0;
        types[i] = i == 0 ? 2 : i < N_SPECIAL ? 3 : 6;
    }
    mb_status st;
    if ((st = mb_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama")) ||
        (st = mb_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, N_VOCAB)) ||
        (st = mb_gguf_writer_set_arr(w, "tokenizer.ggml.scores", MB_GGUF_F32, scores, N_VOCAB)) ||
        (st =
             mb_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", MB_GGUF_I32, types, N_VOCAB)) ||
        (st = mb_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0)) ||
        (st = mb_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1)) ||
        (st = mb_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2)))
        return st;
    return MB_OK;
}

mb_status mbt_write_tiny_model(const char *path, const mbt_tiny_model *c) {
    mb_gguf_writer *w = NULL;
    mb_status st = mb_gguf_writer_new(&w);
    if (st) return st;
    blob_list bl = {.n = 0};
    uint64_t rng = c->seed;
    uint32_t wt = c->weight_type;
    uint64_t d = (uint64_t)c->n_embd, hd = d / (uint64_t)c->n_head;
    uint64_t kv = hd * (uint64_t)c->n_head_kv, ff = (uint64_t)c->n_ff;
    float ws = 0.5f / (float)sqrt((double)d);
    const char *arch = c->arch ? c->arch : "llama";
    char key[9][96];
    const char *key_suffix[9] = {
        "context_length",      "embedding_length",     "block_count",
        "feed_forward_length", "attention.head_count", "attention.head_count_kv",
        "expert_count",        "expert_used_count",    "attention.sliding_window"};
    uint32_t value[9] = {(uint32_t)c->n_ctx,         (uint32_t)d,
                         (uint32_t)c->n_layer,       (uint32_t)ff,
                         (uint32_t)c->n_head,        (uint32_t)c->n_head_kv,
                         (uint32_t)c->n_expert,      (uint32_t)c->n_expert_used,
                         (uint32_t)c->sliding_window};
    if ((st = mb_gguf_writer_set_str(w, "general.architecture", arch)) ||
        (st = mb_gguf_writer_set_str(w, "general.name", "tiny test model")))
        goto done;
    for (int k = 0; k < 9; k++) {
        snprintf(key[k], sizeof key[k], "%s.%s", arch, key_suffix[k]);
        if (k >= 6 && value[k] == 0) continue; /* optional keys */
        if ((st = mb_gguf_writer_set_u32(w, key[k], value[k]))) goto done;
    }
    snprintf(key[0], sizeof key[0], "%s.attention.layer_norm_rms_epsilon", arch);
    if ((st = mb_gguf_writer_set_f32(w, key[0], 1e-5f)) || (st = add_vocab(w))) goto done;
    if ((st = add_random(w, &bl, &rng, "token_embd.weight", wt, d, N_VOCAB, 1.0f, 0)) ||
        (st = add_random(w, &bl, &rng, "output_norm.weight", MB_TYPE_F32, d, 0, 0.1f, 1)) ||
        (st = add_random(w, &bl, &rng, "output.weight", wt, d, N_VOCAB, ws, 0)))
        goto done;
    for (int i = 0; i < c->n_layer; i++) {
        char n[9][64];
        const char *suffix[9] = {"attn_norm", "attn_q",   "attn_k", "attn_v",  "attn_output",
                                 "ffn_norm",  "ffn_gate", "ffn_up", "ffn_down"};
        for (int k = 0; k < 9; k++)
            snprintf(n[k], sizeof n[k], "blk.%d.%s.weight", i, suffix[k]);
        if ((st = add_random(w, &bl, &rng, n[0], MB_TYPE_F32, d, 0, 0.1f, 1)) ||
            (st = add_random(w, &bl, &rng, n[1], wt, d, d, ws, 0)) ||
            (st = add_random(w, &bl, &rng, n[2], wt, d, kv, ws, 0)) ||
            (st = add_random(w, &bl, &rng, n[3], wt, d, kv, ws, 0)) ||
            (st = add_random(w, &bl, &rng, n[4], wt, d, d, ws, 0)) ||
            (st = add_random(w, &bl, &rng, n[5], MB_TYPE_F32, d, 0, 0.1f, 1)) ||
            (st = add_layer_extras(w, &bl, c, i, kv)))
            goto done;
        if (c->n_expert <= 0 && ((st = add_random(w, &bl, &rng, n[6], wt, d, ff, ws, 0)) ||
                                 (st = add_random(w, &bl, &rng, n[7], wt, d, ff, ws, 0)) ||
                                 (st = add_random(w, &bl, &rng, n[8], wt, ff, d, ws, 0))))
            goto done;
    }
    st = mb_gguf_writer_write(w, path);
done:
    mb_gguf_writer_free(w);
    for (int i = 0; i < bl.n; i++)
        free(bl.blobs[i]);
    return st;
}

int mbt_write_calib_text(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    for (int i = 0; i < 40; i++)
        fprintf(f, "Calibration line %d: the quick brown fox jumps over the lazy dog.\n", i);
    return fclose(f) == 0 ? 0 : -1;
}
