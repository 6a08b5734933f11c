/* Weights reordered for this CPU's kernels while loading
 * (mb_model_params.repack): Q4_0 into 16-row groups (kernels/q4_0_r16.h),
 * with the argument q4_k, q5_k or q6_k the K-quant into its 16-row groups
 * (kernels/q4_k_r16.h, q5_k_r16.h, q6_k_r16.h),
 * or, with sq4, SQ4 blocks into lanes (kernels/sq4_lanes.h).
 * Which matrices are (the layers' projections; for Q4_0 only row counts
 * that are a multiple of 16; never the embeddings, never a mapped file);
 * rows read back (mb_get_rows) are the file's; the logits equal the file
 * layout's within float rounding, one by one (the product) and 40 at once
 * (the packed panels, rows read back in the file's order); a batch below
 * the panels' size gives one-by-one decode's bits (speculative
 * verification against decode); for Q4_0 a prompt at once through the
 * panels gives decode's bits too. Skipped where the CPU has no kernel for
 * the layout (the reference level never reorders).
 *
 * usage: test_repack [q4_0|q4_k|q5_k|q6_k|sq4]  (q4_0 by default) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/matmul.h"
#include "model/model.h"
#include "test_util.h"

/* What differs between the two layouts. */
typedef struct {
    const char *name;
    uint32_t type, layout;
    int n_ff;         /* SQ4 and K-quant rows need a multiple of 256 values */
    int one_by_one;   /* tokens fed one by one, then a batch of */
    int batch;        /* ... this many: below the panels' size */
    int panels_exact; /* a prompt at once gives decode's bits */
    const char *skip; /* why, where the CPU has no kernel */
} layout_case;

static const layout_case cases[] = {
    {"q4_0", MB_TYPE_Q4_0, MB_LAYOUT_Q4_0_R16, 544, 4, 8, 1,
     "this CPU's kernels have no 16-row Q4_0 product: loading keeps the layout"},
    {"sq4", MB_TYPE_SQ4, MB_LAYOUT_SQ4_LANES, 512, 5, 7, 0,
     "this CPU's kernels have no SQ4 lanes product: loading keeps the layout"},
    {"q4_k", MB_TYPE_Q4_K, MB_LAYOUT_Q4_K_R16, 512, 3, 9, 0,
     "this CPU's kernels have no 16-row Q4_K product: loading keeps the layout"},
    {"q5_k", MB_TYPE_Q5_K, MB_LAYOUT_Q5_K_R16, 512, 3, 8, 0,
     "this CPU's kernels have no 16-row Q5_K product: loading keeps the layout"},
    {"q6_k", MB_TYPE_Q6_K, MB_LAYOUT_Q6_K_R16, 512, 2, 10, 0,
     "this CPU's kernels have no 16-row Q6_K product: loading keeps the layout"},
};

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

static int all_in(const mb_layer *l, uint32_t layout) {
    return l->wq.layout == layout && l->wk.layout == layout && l->wv.layout == layout &&
           l->wo.layout == layout && l->w_gate.layout == layout && l->w_up.layout == layout &&
           l->w_down.layout == layout;
}

int main(int argc, char **argv) {
    const layout_case *lc = &cases[0];
    for (size_t i = 0; argc > 1 && i < sizeof cases / sizeof *cases; i++)
        if (!strcmp(argv[1], cases[i].name)) lc = &cases[i];
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), lc->name);
    mbt_tiny_model cfg = {.n_embd = 256,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = lc->n_ff,
                          .n_ctx = 256,
                          .weight_type = lc->type,
                          .seed = 3};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *plain = load(path, 0, 0), *moved = load(path, 1, 0);
    if (!plain || !moved) return mbt_finish();
    if (moved->layers[0].wq.layout != lc->layout) {
        mb_model_free(plain);
        mb_model_free(moved);
        mbt_skip(lc->skip);
    }
    printf("%s: layout %u\n", lc->name, lc->layout);
    for (int il = 0; il < cfg.n_layer; il++) {
        CHECK(all_in(&moved->layers[il], lc->layout));
        CHECK(all_in(&plain->layers[il], MB_LAYOUT_ROWS));
    }
    CHECK(moved->tok_embd.layout == MB_LAYOUT_ROWS);
    /* Q4_0: 259 output rows (the vocabulary), not a multiple of 16. */
    if (lc->type == MB_TYPE_Q4_0) CHECK(moved->output.layout == MB_LAYOUT_ROWS);
    mb_model *mapped = load(path, 1, 1);
    CHECK(mapped && mapped->layers[0].wq.layout == MB_LAYOUT_ROWS);
    mb_model_free(mapped);

    /* Rows read back are the file's. */
    {
        const mb_matrix *g = &moved->layers[1].w_down, *p = &plain->layers[1].w_down;
        int32_t ids[3] = {0, 17, (int32_t)g->n_out - 1};
        float *a = malloc(sizeof(float) * 3 * (size_t)g->n_in);
        float *b = malloc(sizeof(float) * 3 * (size_t)g->n_in);
        mb_get_rows(g, ids, 3, a);
        mb_get_rows(p, ids, 3, b);
        CHECK_MSG(!memcmp(a, b, sizeof(float) * 3 * (size_t)g->n_in), "rows read back differ");
        free(a), free(b);
    }

    /* Logits within rounding of the file layout's: 12 tokens one by one
     * and 40 at once (panels). */
    mb_token toks[40];
    uint64_t rng = 9;
    for (int i = 0; i < 40; i++)
        toks[i] = 3 + (mb_token)(mbt_rand_u64(&rng) % 256);
    const int nv = mb_model_n_vocab(plain);
    const int steps[][2] = {{12, 1}, {40, 40}};
    for (int c = 0; c < 2; c++) {
        float *a = logits_after(plain, toks, steps[c][0], steps[c][1]);
        float *b = logits_after(moved, toks, steps[c][0], steps[c][1]);
        double scale = 0, d = a && b ? max_diff(a, b, nv, &scale) : 1e9;
        CHECK_MSG(d <= 1e-3 * (scale + 1e-6), "%s, %d tokens by %d: logits differ by %g (scale %g)",
                  lc->name, steps[c][0], steps[c][1], d, scale);
        free(a), free(b);
    }
    /* Tokens one by one, then a batch below the panels' size, against all
     * of them one by one. */
    const int n = lc->one_by_one + lc->batch;
    float *one = logits_after(moved, toks, n, 1);
    mb_session *s = mbt_session(moved, 256);
    if (s && one) {
        for (int i = 0; i < lc->one_by_one; i++)
            CHECK_OK(mb_session_eval(s, toks + i, 1));
        CHECK_OK(mb_session_eval(s, toks + lc->one_by_one, lc->batch));
        CHECK_MSG(!memcmp(one, mb_session_logits(s), sizeof(float) * (size_t)nv),
                  "%s: a batch of %d tokens does not give one-by-one decode's bits", lc->name,
                  lc->batch);
    }
    mb_session_free(s);
    free(one);
    if (lc->panels_exact) { /* the panels share the 16-row product's arithmetic */
        float *all = logits_after(moved, toks, 40, 40), *each = logits_after(moved, toks, 40, 1);
        CHECK_MSG(all && each && !memcmp(all, each, sizeof(float) * (size_t)nv),
                  "40 tokens at once do not give one-by-one decode's bits");
        free(all), free(each);
    }
    mb_model_free(plain);
    mb_model_free(moved);
    return mbt_finish();
}
