/* quantize --method gptq / awq on a tiny model: AWQ's folding into the
 * norms leaves the float model's outputs unchanged (F32 target, fixed
 * alpha), and both methods write files that load and run, with the same
 * tensor types as plain quantization. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "quantize/awq.h"
#include "quantize/gptq.h"
#include "quantize/quantize.h"
#include "test_util.h"

enum { N_TOK = 40 };

/* Logits of every position of a fixed byte string. */
static float *run_logits(const char *path, int *n_vocab) {
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    if (mb_model_load(path, &mp, &m) != MB_OK) return NULL;
    *n_vocab = mb_model_n_vocab(m);
    mb_token ids[N_TOK];
    for (int i = 0; i < N_TOK; i++)
        ids[i] = 3 + (i * 37 + 11) % 250;
    mb_session *s = NULL;
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 1;
    float *logits = malloc(sizeof *logits * N_TOK * (size_t)*n_vocab);
    if (mb_session_new(m, &sp, &s) != MB_OK || mb_session_eval_all(s, ids, N_TOK, logits)) {
        free(logits);
        logits = NULL;
    }
    mb_session_free(s);
    mb_model_free(m);
    return logits;
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *scale) {
    double d = 0;
    *scale = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        *scale = fmax(*scale, fabs((double)a[i]));
    }
    return d;
}

static int same_types(const char *a, const char *b) {
    mb_gguf *ga = NULL, *gb = NULL;
    int same = mb_gguf_open(a, 1, 0, &ga) == MB_OK && mb_gguf_open(b, 1, 0, &gb) == MB_OK &&
               ga->n_tensors == gb->n_tensors;
    for (uint64_t i = 0; same && i < ga->n_tensors; i++)
        same = ga->tensors[i].type == gb->tensors[i].type;
    mb_gguf_close(ga);
    mb_gguf_close(gb);
    return same;
}

int main(void) {
    const char *dir = mbt_tmpdir();
    char model[512], text[512], out[512], plain[512];
    snprintf(model, sizeof model, "%s/calib-tiny.gguf", dir);
    snprintf(text, sizeof text, "%s/calib.txt", dir);
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 128,
                          .n_ctx = 64,
                          .seed = 5};
    CHECK_OK(mbt_write_tiny_model(model, &cfg));
    if (mbt_write_calib_text(text) != 0) {
        CHECK(!"cannot write the calibration text");
        return mbt_finish();
    }
    int n_vocab = 0;
    float *base = run_logits(model, &n_vocab);
    CHECK(base != NULL);

    /* AWQ into F32 with alpha 0.5: weights scaled, norms divided, same model. */
    mb_awq_model_params ap = {.model_path = model,
                              .calib_path = text,
                              .calib_chunks = 4,
                              .calib_ctx = 32,
                              .n_threads = 2,
                              .fixed_alpha = 1,
                              .alpha = 0.5f};
    mb_awq_model *awq = NULL;
    mb_quant_hook hook = {0};
    CHECK_OK(mb_awq_model_new(&ap, &awq));
    mb_awq_model_hook(awq, &hook);
    mb_quantize_params qp = {.n_threads = 2};
    mb_quantize_stats st;
    snprintf(out, sizeof out, "%s/calib-awq-f32.gguf", dir);
    qp.type = "F32";
    CHECK_OK(mb_quantize_run(model, out, &qp, &hook, NULL, &st));
    mb_awq_model_free(awq);
    float *folded = run_logits(out, &n_vocab);
    CHECK(folded != NULL);
    if (base && folded) {
        double scale, d = max_abs_diff(base, folded, (size_t)N_TOK * n_vocab, &scale);
        CHECK_MSG(d <= 1e-4 * scale, "folded logits differ by %g (scale %g)", d, scale);
    }
    /* ... and the weights did change (the scales are not all 1). */
    mb_gguf *g0 = NULL, *g1 = NULL;
    CHECK_OK(mb_gguf_open(model, 1, 0, &g0));
    CHECK_OK(mb_gguf_open(out, 1, 0, &g1));
    if (g0 && g1) {
        const mb_gguf_tensor *a = mb_gguf_find_tensor(g0, "blk.0.attn_norm.weight");
        const mb_gguf_tensor *b = mb_gguf_find_tensor(g1, "blk.0.attn_norm.weight");
        CHECK(a && b && memcmp(a->data, b->data, a->nbytes) != 0);
    }
    mb_gguf_close(g0);
    mb_gguf_close(g1);
    free(folded);

    /* Both methods at Q4_0: same types as plain, the file runs, and GPTQ
     * changed the bytes. */
    snprintf(plain, sizeof plain, "%s/calib-plain.gguf", dir);
    mb_quantize_params pp = {.n_threads = 2};
    pp.type = "Q4_0";
    CHECK_OK(mb_quantize_file(model, plain, &pp, &st));
    for (int method = 0; method < 2; method++) {
        snprintf(out, sizeof out, "%s/calib-%s.gguf", dir, method ? "awq" : "gptq");
        mb_gptq_model *gm = NULL;
        mb_awq_model *am = NULL;
        if (method == 0) {
            mb_gptq_model_params gp = {.model_path = model,
                                       .calib_path = text,
                                       .calib_chunks = 4,
                                       .calib_ctx = 32,
                                       .n_threads = 2,
                                       .mem_mib = 0.02, /* several passes */
                                       .gptq = {.damp = 0.01, .lazy = 32, .act_order = 1}};
            CHECK_OK(mb_gptq_model_new(&gp, &gm));
            mb_gptq_model_hook(gm, &hook);
        } else {
            ap.fixed_alpha = 0;
            ap.n_grid = 5;
            CHECK_OK(mb_awq_model_new(&ap, &am));
            mb_awq_model_hook(am, &hook);
        }
        qp.type = "Q4_0";
        CHECK_OK(mb_quantize_run(model, out, &qp, &hook, NULL, &st));
        if (gm) CHECK_MSG(mb_gptq_model_passes(gm) > 1, "passes %d", mb_gptq_model_passes(gm));
        mb_gptq_model_free(gm);
        mb_awq_model_free(am);
        CHECK(same_types(out, plain));
        float *q = run_logits(out, &n_vocab);
        CHECK(q != NULL);
        int finite = q != NULL;
        for (size_t i = 0; q && i < (size_t)N_TOK * n_vocab; i++)
            finite &= isfinite(q[i]);
        CHECK(finite);
        free(q);
    }
    /* A missing calibration text is an error, and OUT is not written. */
    mb_gptq_model_params bad = {.model_path = model, .calib_path = "/nonexistent/calib.txt"};
    mb_gptq_model *gm = NULL;
    CHECK_OK(mb_gptq_model_new(&bad, &gm));
    mb_gptq_model_hook(gm, &hook);
    snprintf(out, sizeof out, "%s/calib-bad.gguf", dir);
    remove(out);
    qp.type = "Q4_0";
    CHECK(mb_quantize_run(model, out, &qp, &hook, NULL, &st) != MB_OK);
    CHECK(fopen(out, "rb") == NULL);
    mb_gptq_model_free(gm);
    free(base);
    return mbt_finish();
}
