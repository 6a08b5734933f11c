/* SmoothQuant folding (quantize --smooth): on a tiny model given activation
 * outliers (a few norm channels scaled up), smoothing into an F32 file
 * leaves the logits unchanged (to float rounding) and flattens the
 * per-channel activation maxima the quantizer of the next matrix sees. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "matchbox/quantize.h"
#include "quantize/imatrix.h"
#include "quantize/quantize.h"
#include "test_util.h"

static const char TEXT[] = "The little robot walked to the market. It bought three apples and a "
                           "loaf of bread, then it walked home again, humming a quiet song.";

/* Copy IN to OUT with channels 5 and 40 of every norm weight times 25. */
static void add_outliers(const char *in, const char *out) {
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(in, 1, 0, &g));
    if (!g) return;
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    for (uint64_t i = 0; i < g->n_kv; i++)
        CHECK_OK(mb_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value));
    float *bufs[64] = {0};
    int nb = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        const void *data = t->data;
        if (strstr(t->name, "_norm.weight") && strncmp(t->name, "blk.", 4) == 0 && nb < 64) {
            float *b = bufs[nb++] = malloc(t->nbytes);
            memcpy(b, t->data, t->nbytes);
            b[5] *= 25;
            b[40] *= 25;
            data = b;
        }
        CHECK_OK(mb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, data, t->nbytes));
    }
    CHECK_OK(mb_gguf_writer_write(w, out));
    mb_gguf_writer_free(w);
    for (int i = 0; i < nb; i++)
        free(bufs[i]);
    mb_gguf_close(g);
}

static mb_imatrix *calibrate(mb_model *m) {
    mb_imatrix *im = NULL;
    CHECK_OK(mb_imatrix_new(&im));
    mb_calibrate_params cp = {.n_ctx = 32, .n_chunks = 4, .n_threads = 2};
    CHECK_OK(mb_calibrate(m, TEXT, strlen(TEXT), &cp, im));
    return im;
}

/* Mean over the norm-fed matrices of max_j(max|x_j|) / mean_j(max|x_j|). */
static double outlier_ratio(const mb_imatrix *im) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < im->n; i++) {
        const mb_imatrix_entry *e = &im->e[i];
        if (!strstr(e->name, "attn_q") && !strstr(e->name, "ffn_gate")) continue;
        double mx = 0, mean = 0;
        for (int j = 0; j < e->n_cols; j++) {
            mx = fmax(mx, e->max_abs[j]);
            mean += e->max_abs[j] / e->n_cols;
        }
        sum += mx / mean;
        n++;
    }
    return n ? sum / n : 0;
}

static float *all_logits(mb_model *m, int n) {
    mb_token ids[256];
    size_t n_tok = 0;
    CHECK_OK(mb_tokenize(m, TEXT, strlen(TEXT), 1, 0, ids, 256, &n_tok));
    CHECK((int)n_tok >= n);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 2;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &sp, &s));
    float *l = malloc((size_t)n * (size_t)mb_model_n_vocab(m) * sizeof *l);
    CHECK_OK(mb_session_eval_all(s, ids, (size_t)n, l));
    mb_session_free(s);
    return l;
}

int main(void) {
    char base[512], outl[512], smooth[512];
    snprintf(base, sizeof base, "%s/sq-base.gguf", mbt_tmpdir());
    snprintf(outl, sizeof outl, "%s/sq-outliers.gguf", mbt_tmpdir());
    snprintf(smooth, sizeof smooth, "%s/sq-smooth.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 128,
                          .seed = 9};
    CHECK_OK(mbt_write_tiny_model(base, &cfg));
    add_outliers(base, outl);
    mb_model_params mp = mb_model_default_params();
    mb_model *a = NULL, *b = NULL;
    CHECK_OK(mb_model_load(outl, &mp, &a));
    if (!a) return mbt_finish();
    mb_imatrix *im = calibrate(a);

    mb_quantize_params qp = {.n_threads = 2, .imatrix = im, .smooth_alpha = 0.5f};
    mb_quantize_stats st;
    qp.type = "F32";
    CHECK_OK(mb_quantize_file(outl, smooth, &qp, &st));
    CHECK_EQ_INT(st.n_smooth_groups, 2 * 2);
    CHECK_OK(mb_model_load(smooth, &mp, &b));
    if (!b) return mbt_finish();

    const int n = 40, nv = mb_model_n_vocab(a);
    float *la = all_logits(a, n), *lb = all_logits(b, n);
    double max_abs = 0, max_diff = 0;
    for (int i = 0; i < n * nv; i++) {
        max_abs = fmax(max_abs, fabs(la[i]));
        max_diff = fmax(max_diff, fabs((double)la[i] - lb[i]));
    }
    printf("smoothed F32 logits: max |diff| %.3g of max |logit| %.3g\n", max_diff, max_abs);
    CHECK(max_abs > 0);
    CHECK_MSG(max_diff <= 1e-4 * max_abs, "logits moved by %g (max %g)", max_diff, max_abs);

    mb_imatrix *im_b = calibrate(b);
    const double ra = outlier_ratio(im), rb = outlier_ratio(im_b);
    printf("activation outlier ratio (max / mean channel max): %.2f -> %.2f\n", ra, rb);
    CHECK(ra > 3);
    CHECK_MSG(rb < 0.6 * ra, "outlier ratio %g -> %g", ra, rb);

    /* --smooth without maxima (a legacy .dat has none) is refused. */
    char dat[512], bad[512];
    snprintf(dat, sizeof dat, "%s/sq.dat", mbt_tmpdir());
    snprintf(bad, sizeof bad, "%s/sq-bad.gguf", mbt_tmpdir());
    mb_imatrix *im_dat = NULL;
    CHECK_OK(mb_imatrix_write(im, dat));
    CHECK_OK(mb_imatrix_read(dat, &im_dat));
    qp.imatrix = im_dat;
    qp.type = "F32";
    CHECK(mb_quantize_file(outl, bad, &qp, &st) != MB_OK);

    free(la);
    free(lb);
    mb_imatrix_free(im);
    mb_imatrix_free(im_b);
    mb_imatrix_free(im_dat);
    mb_model_free(a);
    mb_model_free(b);
    return mbt_finish();
}
