/* SQ4 weights reordered into lanes while loading (mb_model_params.repack;
 * kernels/sq4_lanes.h): the layers' projections and an untied output are,
 * the embeddings and a mapped file are not; rows read back (mb_get_rows)
 * are the file's; the logits equal the file layout's within float
 * rounding, one by one (the lanes product) and 40 at once (the panels,
 * packed from lanes rows); a batch of fewer than the panels' 8 rows gives
 * one-by-one decode's bits (speculative verification against decode).
 * Skipped where the CPU's kernels have no lanes product. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/matmul.h"
#include "model/model.h"
#include "test_util.h"

static mb_model *load(const char *path, int repack, int use_mmap) {
    mb_model_params mp = mb_model_default_params();
    mp.repack = repack;
    mp.use_mmap = use_mmap;
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, &mp, &m));
    return m;
}

/* The logits after feeding TOKENS (N) to a fresh session, STEP at a time. */
static float *logits_after(mb_model *m, const mb_token *tokens, int n, int step) {
    mb_session *s = mbt_session(m, 256);
    if (!s) return NULL;
    for (int i = 0; i < n; i += step)
        CHECK_OK(mb_session_eval(s, tokens + i, n - i < step ? n - i : step));
    const int nv = mb_model_n_vocab(m);
    float *out = malloc(sizeof(float) * (size_t)nv);
    memcpy(out, mb_session_logits(s), sizeof(float) * (size_t)nv);
    mb_session_free(s);
    return out;
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/sq4.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 256,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 512,
                          .n_ctx = 256,
                          .weight_type = MB_TYPE_SQ4,
                          .seed = 5};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *plain = load(path, 0, 0), *lanes = load(path, 1, 0);
    if (!plain || !lanes) return mbt_finish();
    if (lanes->layers[0].wq.layout != MB_LAYOUT_SQ4_LANES) {
        mb_model_free(plain);
        mb_model_free(lanes);
        mbt_skip("this CPU's kernels have no SQ4 lanes product: loading keeps the layout");
    }
    for (int il = 0; il < cfg.n_layer; il++) {
        const mb_layer *g = &lanes->layers[il], *p = &plain->layers[il];
        CHECK(g->wq.layout == MB_LAYOUT_SQ4_LANES && g->wk.layout == MB_LAYOUT_SQ4_LANES &&
              g->wv.layout == MB_LAYOUT_SQ4_LANES && g->wo.layout == MB_LAYOUT_SQ4_LANES &&
              g->w_gate.layout == MB_LAYOUT_SQ4_LANES && g->w_up.layout == MB_LAYOUT_SQ4_LANES &&
              g->w_down.layout == MB_LAYOUT_SQ4_LANES);
        CHECK(p->wq.layout == MB_LAYOUT_ROWS && p->w_down.layout == MB_LAYOUT_ROWS);
    }
    CHECK(lanes->tok_embd.layout == MB_LAYOUT_ROWS);
    if (lanes->output.data && lanes->output.data != lanes->tok_embd.data)
        CHECK(lanes->output.type != MB_TYPE_SQ4 || lanes->output.layout == MB_LAYOUT_SQ4_LANES);
    mb_model *mapped = load(path, 1, 1);
    CHECK(mapped && mapped->layers[0].wq.layout == MB_LAYOUT_ROWS);
    mb_model_free(mapped);

    {
        const mb_matrix *g = &lanes->layers[1].w_down, *p = &plain->layers[1].w_down;
        int32_t ids[3] = {0, 17, (int32_t)g->n_out - 1};
        float *a = malloc(sizeof(float) * 3 * (size_t)g->n_in);
        float *b = malloc(sizeof(float) * 3 * (size_t)g->n_in);
        mb_get_rows(g, ids, 3, a);
        mb_get_rows(p, ids, 3, b);
        CHECK_MSG(!memcmp(a, b, sizeof(float) * 3 * (size_t)g->n_in), "rows read back differ");
        free(a), free(b);
    }

    mb_token toks[40];
    uint64_t rng = 11;
    for (int i = 0; i < 40; i++)
        toks[i] = 3 + (mb_token)(mbt_rand_u64(&rng) % 256);
    const int nv = mb_model_n_vocab(plain);
    const int cases[][2] = {{12, 1}, {40, 40}};
    for (int c = 0; c < 2; c++) {
        float *a = logits_after(plain, toks, cases[c][0], cases[c][1]);
        float *b = logits_after(lanes, toks, cases[c][0], cases[c][1]);
        double d = 0, scale = 0;
        for (int i = 0; a && b && i < nv; i++) {
            if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
            if (fabs(a[i]) > scale) scale = fabs(a[i]);
        }
        CHECK_MSG(a && b && d <= 1e-3 * (scale + 1e-6),
                  "%d tokens by %d: logits differ by %g (scale %g)", cases[c][0], cases[c][1], d,
                  scale);
        free(a), free(b);
    }
    /* 12 tokens: 5 one by one then a batch of 7 (the lanes product, the
     * panels take 8 or more), against 12 one by one. */
    float *one = logits_after(lanes, toks, 12, 1);
    mb_session *s = mbt_session(lanes, 256);
    if (s && one) {
        for (int i = 0; i < 5; i++)
            CHECK_OK(mb_session_eval(s, toks + i, 1));
        CHECK_OK(mb_session_eval(s, toks + 5, 7));
        CHECK_MSG(!memcmp(one, mb_session_logits(s), sizeof(float) * (size_t)nv),
                  "a batch of 7 tokens does not give one-by-one decode's bits");
    }
    mb_session_free(s);
    free(one);
    mb_model_free(plain);
    mb_model_free(lanes);
    return mbt_finish();
}
