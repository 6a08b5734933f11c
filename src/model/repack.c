/* Reordering a model's weight matrices while it loads for this CPU's
 * kernels (mb_model_params.repack): Q4_0 and the K-quants Q4_K, Q5_K and
 * Q6_K into 16-row groups (kernels/q4_0_r16.h, q4_k_r16.h, q5_k_r16.h,
 * q6_k_r16.h), SQ4 blocks into lanes
 * (kernels/sq4_lanes.h).
 * Only weights read into memory: a mapped file is shared with the page
 * cache and a streamed layer is read again from the file. Each matrix (or
 * row view of a fused tensor) is reordered in place on its own bytes; the
 * token embeddings, read by row, and an output matrix tied to them stay as
 * they are. */
#include "model/model.h"

#include "core/log.h"
#include "kernels/matmul.h"

static int repack_one(mb_model *m, mb_matrix *w) {
    if (!mb_matrix_can_repack(w)) return 0;
    const uint8_t *e0 = m->tok_embd.data,
                  *e1 = e0 + (size_t)m->tok_embd.n_out * m->tok_embd.row_bytes;
    const uint8_t *w1 = w->data + (size_t)w->n_out * w->row_bytes;
    if (e0 && w->data < e1 && e0 < w1) return 0; /* tied to the embeddings */
    return mb_matrix_repack(w);
}

void mb_model_repack(mb_model *m, int verbose) {
    if (m->is_mmap || m->stream || m->vocab_only) return;
    static const char *const what[MB_LAYOUT_COUNT] = {
        [MB_LAYOUT_Q4_0_R16] = "Q4_0 matrices into 16-row groups",
        [MB_LAYOUT_Q4_K_R16] = "Q4_K matrices into 16-row groups",
        [MB_LAYOUT_Q5_K_R16] = "Q5_K matrices into 16-row groups",
        [MB_LAYOUT_Q6_K_R16] = "Q6_K matrices into 16-row groups",
        [MB_LAYOUT_SQ4_LANES] = "SQ4 matrices into lanes",
    };
    int n[MB_LAYOUT_COUNT] = {0}; /* matrices reordered, by layout */
    for (int il = 0; il < m->hp.n_layer; il++) {
        mb_layer *l = &m->layers[il];
        mb_matrix *mats[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t k = 0; k < sizeof mats / sizeof mats[0]; k++)
            if (mats[k]->data && repack_one(m, mats[k])) n[mats[k]->layout]++;
    }
    if (m->output.data && repack_one(m, &m->output)) n[m->output.layout]++;
    for (int k = 0; verbose && k < MB_LAYOUT_COUNT; k++)
        if (n[k]) mb_log(MB_LOG_INFO, "reordered %d %s\n", n[k], what[k]);
}
