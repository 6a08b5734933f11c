/* mb_densify_file: sparse tensors to the standard types that hold exactly
 * their values, for runtimes without matchbox's sparse types. A sparse
 * quarter of 64 weights has one fp16 scale and codes on Q4_0's grid (SQ4:
 * q - 8 in -8..7) or Q8_0's (SQ8: -127..127); its two 32-weight blocks of
 * Q4_0 / Q8_0 take that scale, the stored codes where the mask is set and
 * the code of zero elsewhere. Every other tensor is copied. */
#include <string.h>

#include "core/error.h"
#include "quantize/quantize.h"
#include "tensor/blocks.h"
#include "tensor/types.h"

typedef struct {
    const mb_gguf *g;
    uint32_t file_type;
    int has_file_type;
} densify_ctx;

static int is_sparse(uint32_t t) {
    return t == MB_TYPE_SQ4 || t == MB_TYPE_SQ8 || t == MB_TYPE_SQ4_24;
}

static mb_status plan(void *user, const mb_gguf *g, const mb_quant_rules *r, mb_quant_choice *pl) {
    (void)user, (void)r;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const uint32_t t = g->tensors[i].type;
        memset(&pl[i], 0, sizeof pl[i]);
        pl[i].type = pl[i].wanted = !is_sparse(t)      ? t
                                    : t == MB_TYPE_SQ8 ? MB_TYPE_Q8_0
                                                       : MB_TYPE_Q4_0;
        pl[i].quantize = is_sparse(t);
        pl[i].fixed = 1;
    }
    return MB_OK;
}

static mb_status prepare(void *user, const mb_gguf *g, const mb_quant_choice *pl) {
    densify_ctx *c = user;
    (void)pl;
    c->g = g;
    c->has_file_type = mb_gguf_get_u32(g, "general.file_type", &c->file_type) == MB_OK;
    return MB_OK;
}

static void sq4_to_q4_0(const mb_block_sq4 *s, mb_block_q4_0 *q) {
    uint8_t code[MB_QK_SPARSE];
    int k = 0;
    for (int j = 0; j < MB_QK_SPARSE; j++) {
        code[j] = 8;
        if (mb_sparse_bit(s->mask, j) && k < MB_SPARSE_CAP) {
            code[j] = (uint8_t)mb_sparse_nibble(s->qs, k);
            k++;
        }
    }
    for (int b = 0; b < MB_QK_SPARSE / MB_QK4_0; b++, q++) {
        q->d = s->d[b / 2];
        for (int e = 0; e < MB_QK4_0 / 2; e++)
            q->qs[e] = (uint8_t)(code[32 * b + e] | code[32 * b + e + 16] << 4);
    }
}

/* A 2:4 group's two slots to their positions; the others get code 8. */
static void sq4_24_to_q4_0(const mb_block_sq4_24 *s, mb_block_q4_0 *q) {
    uint8_t code[MB_QK_SPARSE];
    memset(code, 8, sizeof code);
    for (int k = 0; k < MB_SPARSE_CAP; k++)
        code[mb_sq4_24_pos(s, k)] = (uint8_t)mb_sparse_nibble(s->qs, k);
    for (int b = 0; b < MB_QK_SPARSE / MB_QK4_0; b++, q++) {
        q->d = s->d[b / 2];
        for (int e = 0; e < MB_QK4_0 / 2; e++)
            q->qs[e] = (uint8_t)(code[32 * b + e] | code[32 * b + e + 16] << 4);
    }
}

static void sq8_to_q8_0(const mb_block_sq8 *s, mb_block_q8_0 *q) {
    int8_t code[MB_QK_SPARSE];
    int k = 0;
    for (int j = 0; j < MB_QK_SPARSE; j++) {
        code[j] = 0;
        if (mb_sparse_bit(s->mask, j) && k < MB_SPARSE_CAP) code[j] = s->qs[k++];
    }
    for (int b = 0; b < MB_QK_SPARSE / MB_QK8_0; b++, q++) {
        q->d = s->d[b / 2];
        memcpy(q->qs, code + 32 * b, MB_QK8_0);
    }
}

static mb_status tensor(void *user, uint64_t index, void *out, uint64_t nbytes, int *done) {
    densify_ctx *c = user;
    (void)nbytes;
    const mb_gguf_tensor *t = &c->g->tensors[index];
    if (!is_sparse(t->type)) return MB_OK;
    const uint64_t n_blocks = t->nbytes / mb_type_get(t->type)->type_size;
    for (uint64_t b = 0; b < n_blocks; b++) {
        if (t->type == MB_TYPE_SQ4)
            sq4_to_q4_0((const mb_block_sq4 *)t->data + b, (mb_block_q4_0 *)out + 8 * b);
        else if (t->type == MB_TYPE_SQ4_24)
            sq4_24_to_q4_0((const mb_block_sq4_24 *)t->data + b, (mb_block_q4_0 *)out + 8 * b);
        else
            sq8_to_q8_0((const mb_block_sq8 *)t->data + b, (mb_block_q8_0 *)out + 8 * b);
    }
    *done = 1;
    return MB_OK;
}

/* The input's file type (the preset's would be wrong); the input's
 * matchbox.sparse.* keys stay: the weights are still the pruned ones. */
static mb_status metadata(void *user, mb_gguf_writer *w) {
    densify_ctx *c = user;
    return c->has_file_type ? mb_gguf_writer_set_u32(w, "general.file_type", c->file_type) : MB_OK;
}

mb_status mb_densify_file(const char *in, const char *out, mb_quantize_stats *stats) {
    mb_quantize_stats local;
    densify_ctx c = {0};
    mb_quantize_params qp = mb_quantize_default_params();
    qp.type = "F16"; /* replaced tensor by tensor by the planner */
    qp.allow_requantize = 1;
    const mb_quant_hook hook = {prepare, tensor, &c, metadata};
    const mb_quant_planner planner = {plan, &c};
    return mb_quantize_run(in, out, &qp, &hook, &planner, stats ? stats : &local);
}
