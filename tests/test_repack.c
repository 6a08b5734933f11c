/* Q4_0 weights reordered into 16-row groups while loading
 * (mb_model_params.repack): which matrices are (the layers' projections
 * whose row count is a multiple of 16, not the embeddings, not a mapped
 * file); the logits equal the file layout's within float rounding, also
 * through the packed panels of a long prompt; a batch of fewer than 16
 * tokens gives the bits of feeding them one by one (speculative
 * verification against decode); rows read back (mb_get_rows) are the
 * file's; a prompt at once (the packed panels) gives decode's bits too.
 * Skipped where the CPU has no 16-row kernel (the reference level never
 * reorders). */
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

/* The logits after feeding TOKENS (N) to a fresh session: one call per
 * STEP tokens. */
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

static double max_diff(const float *a, const float *b, int n, double *scale) {
    double d = 0, s = 0;
    for (int i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
        if (fabs(a[i]) > s) s = fabs(a[i]);
    }
    *scale = s;
    return d;
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/q4_0.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 256,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 544,
                          .n_ctx = 256,
                          .weight_type = MB_TYPE_Q4_0,
                          .seed = 3};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *plain = load(path, 0, 0), *grouped = load(path, 1, 0);
    if (!plain || !grouped) return mbt_finish();
    const mb_layer *l = &grouped->layers[0];
    if (l->wq.layout != MB_LAYOUT_Q4_0_R16) {
        mb_model_free(plain);
        mb_model_free(grouped);
        mbt_skip("this CPU's kernels have no 16-row Q4_0 product: loading keeps the layout");
    }
    for (int il = 0; il < cfg.n_layer; il++) {
        const mb_layer *g = &grouped->layers[il], *p = &plain->layers[il];
        CHECK(g->wq.layout == MB_LAYOUT_Q4_0_R16 && g->wk.layout == MB_LAYOUT_Q4_0_R16 &&
              g->wv.layout == MB_LAYOUT_Q4_0_R16 && g->wo.layout == MB_LAYOUT_Q4_0_R16 &&
              g->w_gate.layout == MB_LAYOUT_Q4_0_R16 && g->w_up.layout == MB_LAYOUT_Q4_0_R16 &&
              g->w_down.layout == MB_LAYOUT_Q4_0_R16);
        CHECK(p->wq.layout == MB_LAYOUT_ROWS && p->w_down.layout == MB_LAYOUT_ROWS);
    }
    /* 259 rows (the vocabulary): not a multiple of 16. */
    CHECK(grouped->output.layout == MB_LAYOUT_ROWS && grouped->tok_embd.layout == MB_LAYOUT_ROWS);
    mb_model *mapped = load(path, 1, 1);
    CHECK(mapped && mapped->layers[0].wq.layout == MB_LAYOUT_ROWS);
    mb_model_free(mapped);

    /* Rows read back are the file's. */
    {
        const mb_matrix *g = &grouped->layers[1].w_down, *p = &plain->layers[1].w_down;
        int32_t ids[3] = {0, 17, (int32_t)g->n_out - 1};
        float *a = malloc(sizeof(float) * 3 * (size_t)g->n_in);
        float *b = malloc(sizeof(float) * 3 * (size_t)g->n_in);
        mb_get_rows(g, ids, 3, a);
        mb_get_rows(p, ids, 3, b);
        CHECK_MSG(!memcmp(a, b, sizeof(float) * 3 * (size_t)g->n_in), "rows read back differ");
        free(a), free(b);
    }

    /* Logits within rounding of the file layout's: 12 tokens one by one
     * (the 16-row product) and 40 at once (panels). */
    mb_token toks[40];
    uint64_t rng = 9;
    for (int i = 0; i < 40; i++)
        toks[i] = 3 + (mb_token)(mbt_rand_u64(&rng) % 256);
    const int nv = mb_model_n_vocab(plain);
    const int cases[][2] = {{12, 1}, {40, 40}};
    for (int c = 0; c < 2; c++) {
        float *a = logits_after(plain, toks, cases[c][0], cases[c][1]);
        float *b = logits_after(grouped, toks, cases[c][0], cases[c][1]);
        double scale = 0, d = a && b ? max_diff(a, b, nv, &scale) : 1e9;
        CHECK_MSG(d <= 1e-3 * (scale + 1e-6), "%d tokens by %d: logits differ by %g (scale %g)",
                  cases[c][0], cases[c][1], d, scale);
        free(a), free(b);
    }
    /* 12 tokens: 4 one by one then a batch of 8 (the 16-row product),
     * against 12 one by one; and 40 at once (the panels, their rows copied
     * back) against 40 one by one. */
    float *one = logits_after(grouped, toks, 12, 1);
    mb_session *s = mbt_session(grouped, 256);
    if (s && one) {
        for (int i = 0; i < 4; i++)
            CHECK_OK(mb_session_eval(s, toks + i, 1));
        CHECK_OK(mb_session_eval(s, toks + 4, 8));
        CHECK_MSG(!memcmp(one, mb_session_logits(s), sizeof(float) * (size_t)nv),
                  "a batch of 8 tokens does not give one-by-one decode's bits");
    }
    mb_session_free(s);
    free(one);
    float *all = logits_after(grouped, toks, 40, 40), *each = logits_after(grouped, toks, 40, 1);
    CHECK_MSG(all && each && !memcmp(all, each, sizeof(float) * (size_t)nv),
              "40 tokens at once do not give one-by-one decode's bits");
    free(all), free(each);
    mb_model_free(plain);
    mb_model_free(grouped);
    return mbt_finish();
}
