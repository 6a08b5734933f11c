/* Importance matrices: calibration against a direct computation of the
 * first layer's inputs, round trips through our GGUF and llama.cpp's
 * legacy .dat, and the parser on damaged files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "model/model.h"
#include "matchbox/quantize.h"
#include "quantize/imatrix.h"
#include "test_util.h"

static const char TEXT[] = "Once upon a time there was a little fox who lived by the river. "
                           "Every morning it ran to the water and looked at the fish. "
                           "One day the fish said hello, and the fox was very surprised.";

/* blk.0.attn_q's input is rmsnorm(token embedding) * attn_norm: compute the
 * sums over the calibrated tokens directly and compare. */
static void test_accumulation(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/imx-tiny.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 128,
                          .seed = 5};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    if (!m) return;
    mb_imatrix *im = NULL;
    CHECK_OK(mb_imatrix_new(&im));
    const int n_ctx = 32, n_chunks = 3;
    mb_calibrate_params cp = {.n_ctx = n_ctx, .n_chunks = n_chunks, .n_threads = 2};
    CHECK_OK(mb_calibrate(m, TEXT, strlen(TEXT), &cp, im));
    CHECK_EQ_INT(im->n, 2 * 7); /* q k v o gate up down per layer */
    CHECK_EQ_INT(im->chunk_count, n_chunks);
    const mb_imatrix_entry *q = mb_imatrix_find(im, "blk.0.attn_q.weight");
    const mb_imatrix_entry *k = mb_imatrix_find(im, "blk.0.attn_k.weight");
    const mb_imatrix_entry *down = mb_imatrix_find(im, "blk.1.ffn_down.weight");
    CHECK(q && k && down);
    if (!q || !k || !down) return;
    CHECK_EQ_INT(q->n_cols, 64);
    CHECK_EQ_INT(down->n_cols, 96);
    CHECK_NEAR(q->count[0], n_chunks * n_ctx, 0);
    CHECK_NEAR(down->count[0], n_chunks * n_ctx, 0);

    mb_token ids[1024];
    size_t n_tok = 0;
    CHECK_OK(mb_tokenize(m, TEXT, strlen(TEXT), 1, 0, ids, 1024, &n_tok));
    const mb_gguf_tensor *emb = mb_gguf_find_tensor(m->gguf, "token_embd.weight");
    const mb_gguf_tensor *nw = mb_gguf_find_tensor(m->gguf, "blk.0.attn_norm.weight");
    CHECK(emb && nw && emb->type == 0 && nw->type == 0);
    double sum2[64] = {0};
    float max_abs[64] = {0};
    for (int t = 0; t < n_chunks * n_ctx; t++) {
        const mb_token id = t % n_ctx == 0 ? ids[0] : ids[t]; /* each chunk starts with BOS */
        const float *x = (const float *)emb->data + (size_t)id * 64;
        double ss = 0;
        for (int j = 0; j < 64; j++)
            ss += (double)x[j] * x[j];
        const double r = 1.0 / sqrt(ss / 64 + m->hp.rms_eps);
        for (int j = 0; j < 64; j++) {
            const double v = x[j] * r * ((const float *)nw->data)[j];
            sum2[j] += v * v;
            if (fabs(v) > max_abs[j]) max_abs[j] = (float)fabs(v);
        }
    }
    for (int j = 0; j < 64; j++) {
        CHECK_NEAR(q->sum2[j], sum2[j], 1e-4 * sum2[j] + 1e-9);
        CHECK_NEAR(k->sum2[j], q->sum2[j], 0);
        CHECK_NEAR(q->max_abs[j], max_abs[j], 1e-4 * max_abs[j] + 1e-9);
    }

    /* Round trips. GGUF keeps sums, counts and maxima (as float). */
    char g1[512], dat[512], g2[512];
    snprintf(g1, sizeof g1, "%s/imx.gguf", mbt_tmpdir());
    snprintf(dat, sizeof dat, "%s/imx.dat", mbt_tmpdir());
    snprintf(g2, sizeof g2, "%s/imx2.gguf", mbt_tmpdir());
    CHECK_OK(mb_imatrix_add_dataset(im, "fox.txt"));
    CHECK_OK(mb_imatrix_write(im, g1));
    mb_imatrix *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(mb_imatrix_read(g1, &a));
    CHECK_OK(mb_imatrix_write(a, dat));
    CHECK_OK(mb_imatrix_read(dat, &b));
    CHECK_OK(mb_imatrix_write(b, g2));
    CHECK_OK(mb_imatrix_read(g2, &c));
    if (a && b && c) {
        CHECK_EQ_INT(a->n, im->n);
        CHECK_EQ_INT(b->n, im->n);
        CHECK_EQ_INT(c->n, im->n);
        CHECK_EQ_INT(a->chunk_size, n_ctx);
        CHECK_EQ_INT(b->chunk_count, n_chunks);
        CHECK(a->n_datasets == 1 && !strcmp(a->datasets[0], "fox.txt"));
        CHECK(b->n_datasets == 1 && !strcmp(b->datasets[0], "fox.txt"));
        CHECK(c->n_datasets == 1 && !strcmp(c->datasets[0], "fox.txt"));
        for (int i = 0; i < im->n; i++) {
            const mb_imatrix_entry *e = &im->e[i], *ea = mb_imatrix_find(a, e->name),
                                   *eb = mb_imatrix_find(b, e->name),
                                   *ec = mb_imatrix_find(c, e->name);
            CHECK_MSG(ea && eb && ec, "entry %s lost", e->name);
            if (!ea || !eb || !ec) continue;
            CHECK(ea->max_abs && !eb->max_abs && !ec->max_abs); /* .dat has no maxima */
            CHECK_NEAR(ea->count[0], e->count[0], 0);
            float m0[128], ma[128], mb[128], mc[128];
            mb_imatrix_mean(e, 0, m0);
            mb_imatrix_mean(ea, 0, ma);
            mb_imatrix_mean(eb, 0, mb);
            mb_imatrix_mean(ec, 0, mc);
            for (int j = 0; j < e->n_cols; j++) {
                CHECK_NEAR(ea->sum2[j], (float)e->sum2[j], 0);
                CHECK_NEAR(ea->max_abs[j], e->max_abs[j], 0);
                CHECK_NEAR(ma[j], m0[j], 1e-6 * m0[j]);
                CHECK_NEAR(mb[j], m0[j], 1e-5 * m0[j]);
                CHECK_NEAR(mc[j], mb[j], 1e-6 * mb[j]);
            }
        }
    }
    mb_imatrix_free(a);
    mb_imatrix_free(b);
    mb_imatrix_free(c);
    mb_imatrix_free(im);
    mb_model_free(m);
}

static size_t put32(uint8_t *p, uint32_t v) {
    for (int k = 0; k < 4; k++)
        p[k] = (uint8_t)(v >> (8 * k));
    return 4;
}

static size_t putf(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return put32(p, u);
}

/* A legacy file written byte by byte (the reference's layout): the values
 * are mean x^2 times ncall. Every truncation of it is an error (until the
 * optional trailer), hostile counts and NaN are refused. */
static void test_dat_parser(void) {
    uint8_t buf[256];
    size_t n = 0;
    n += put32(buf + n, 1);
    n += put32(buf + n, 5);
    memcpy(buf + n, "w.abc", 5);
    n += 5;
    n += put32(buf + n, 4); /* ncall */
    n += put32(buf + n, 3); /* nval */
    const size_t vals = n;
    n += putf(buf + n, 8.0f);
    n += putf(buf + n, 2.0f);
    n += putf(buf + n, 0.0f);
    const size_t body = n;
    n += put32(buf + n, 4); /* chunks */
    n += put32(buf + n, 3);
    memcpy(buf + n, "d.t", 3);
    n += 3;
    mb_imatrix *im = NULL;
    CHECK_OK(mb_imatrix_parse(buf, n, "mem", &im));
    if (im) {
        const mb_imatrix_entry *e = mb_imatrix_find(im, "w.abc");
        CHECK(e && e->n_cols == 3);
        float mean[3];
        if (e) mb_imatrix_mean(e, 0, mean);
        if (e) CHECK_NEAR(mean[0], 2.0, 1e-6);
        if (e) CHECK_NEAR(mean[1], 0.5, 1e-6);
        CHECK_EQ_INT(im->chunk_count, 4);
        CHECK(im->n_datasets == 1 && !strcmp(im->datasets[0], "d.t"));
    }
    mb_imatrix_free(im);
    for (size_t cut = 0; cut < body; cut++) {
        im = NULL;
        CHECK_MSG(mb_imatrix_parse(buf, cut, "mem", &im) != MB_OK, "cut at %zu accepted", cut);
        CHECK(im == NULL);
    }
    uint8_t bad[256];
    memcpy(bad, buf, n);
    putf(bad + vals + 4, NAN);
    CHECK(mb_imatrix_parse(bad, n, "mem", &im) != MB_OK);
    memcpy(bad, buf, n);
    put32(bad, 0x7fffffff); /* n_entries */
    CHECK(mb_imatrix_parse(bad, n, "mem", &im) != MB_OK);
    memcpy(bad, buf, n);
    put32(bad + vals - 4, 0x40000000); /* nval */
    CHECK(mb_imatrix_parse(bad, n, "mem", &im) != MB_OK);
    memcpy(bad, buf, n);
    put32(bad + 4, 0xfffffff0u); /* name length */
    CHECK(mb_imatrix_parse(bad, n, "mem", &im) != MB_OK);
}

int main(void) {
    test_accumulation();
    test_dat_parser();
    return mbt_finish();
}
