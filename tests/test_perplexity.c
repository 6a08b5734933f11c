/* Perplexity and KL divergence on the real stories260K model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchbox/eval.h"
#include "quantize/quantize.h"
#include "test_util.h"

static int n_progress;

static void on_chunk(int chunk, int n_chunks, double ppl, void *user) {
    CHECK_EQ_INT(chunk, n_progress + 1);
    CHECK_EQ_INT(n_chunks, 3);
    n_progress++;
    *(double *)user = ppl;
}

int main(void) {
    const char *model_path = mbt_shared_path_or_skip("models/stories260K.gguf");
    const char *text_path = mbt_shared_path_or_skip("data/wiki.test.raw");
    size_t len = 0;
    char *text = mbt_read_file(text_path, &len);
    CHECK(text != NULL);
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(model_path, &mp, &m));
    if (!m || !text) return mbt_finish();

    /* Three chunks of 512: the reference's running PPL over 40 chunks stays
     * in 115..166 (final 164.86); three chunks land near 116. */
    mb_perplexity_params p = mb_perplexity_default_params();
    CHECK_EQ_INT(p.n_ctx, 512);
    p.n_chunks = 3;
    p.n_threads = 2;
    p.progress = on_chunk;
    double last_ppl = 0;
    p.progress_user = &last_ppl;
    char base[512];
    snprintf(base, sizeof base, "%s/base.kld", mbt_tmpdir());
    p.kld_base_write = base;
    mb_perplexity_result r;
    CHECK_OK(mb_perplexity(m, text, len, &p, &r));
    CHECK_EQ_INT(r.n_chunks, 3);
    /* The progress callback saw the three chunks, the last with the final PPL. */
    CHECK_EQ_INT(n_progress, 3);
    CHECK_MSG(fabs(last_ppl - r.ppl) < 1e-9 * r.ppl, "progress %g vs %g", last_ppl, r.ppl);
    p.progress = NULL;
    CHECK_EQ_INT((int)r.n_scored, 3 * 255); /* positions 256..510 of each chunk */
    CHECK_MSG(r.ppl > 100 && r.ppl < 135, "PPL %g outside the reference's range", r.ppl);
    CHECK(r.ppl_err > 0 && r.ppl_err < r.ppl / 5);

    /* The model against its own base: KLD ~0 (half-precision storage),
     * the same top token everywhere. */
    p.kld_base_write = NULL;
    p.kld_base_read = base;
    p.n_chunks = 0; /* the base decides: 3 */
    mb_perplexity_result k;
    CHECK_OK(mb_perplexity(m, text, len, &p, &k));
    CHECK(k.has_kld);
    CHECK_EQ_INT(k.n_chunks, 3);
    CHECK_MSG(fabs(k.kld) < 1e-5, "self KLD %g", k.kld);
    CHECK_MSG(k.top1 > 0.999, "self top-1 %g", k.top1);
    CHECK_NEAR(k.ppl, r.ppl, 1e-9 * r.ppl);
    CHECK_NEAR(k.ppl_base, r.ppl, 1e-3 * r.ppl);
    /* The paired statistic is the log of the PPL ratio, and against itself
     * only the base file's half precision is left in it. */
    CHECK_NEAR(k.ln_ratio, log(k.ppl / k.ppl_base), 1e-9);
    CHECK_MSG(fabs(k.ln_ratio) < 1e-3 && k.ln_ratio_err < 1e-3, "self ln ratio %g +/- %g",
              k.ln_ratio, k.ln_ratio_err);

    /* A Q4_0 copy against the base: the paired error of ln(PPL(Q)/PPL(base))
     * is well below the relative error of either PPL (both models score
     * the same tokens, and their per-token losses move together). */
    char q4[512];
    snprintf(q4, sizeof q4, "%s/q4.gguf", mbt_tmpdir());
    mb_quantize_params qp = {.n_threads = 2, .allow_fallback = 1};
    mb_quantize_stats qs;
    qp.type = "Q4_0";
    CHECK_OK(mb_quantize_file(model_path, q4, &qp, &qs));
    mb_model *mq = NULL;
    CHECK_OK(mb_model_load(q4, &mp, &mq));
    if (mq) {
        mb_perplexity_result kq;
        CHECK_OK(mb_perplexity(mq, text, len, &p, &kq));
        CHECK_NEAR(kq.ln_ratio, log(kq.ppl / kq.ppl_base), 1e-9);
        CHECK_MSG(kq.kld > 1e-4, "Q4_0 KLD %g", kq.kld);
        CHECK_MSG(kq.ln_ratio_err > 0 && kq.ln_ratio_err < 0.5 * kq.ppl_err / kq.ppl,
                  "paired error %g vs relative PPL error %g", kq.ln_ratio_err, kq.ppl_err / kq.ppl);
        printf("Q4_0: ln(PPL(Q)/PPL(base)) %.5f +/- %.5f, PPL %.3f +/- %.3f\n", kq.ln_ratio,
               kq.ln_ratio_err, kq.ppl, kq.ppl_err);
        mb_model_free(mq);
    }

    /* --chunks below the base's count evaluates only that many. */
    p.n_chunks = 1;
    CHECK_OK(mb_perplexity(m, text, len, &p, &k));
    CHECK_EQ_INT(k.n_chunks, 1);
    p.n_chunks = 0;

    /* A base made with another context is refused, naming both. */
    p.n_ctx = 256;
    CHECK(mb_perplexity(m, text, len, &p, &k) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "512") != NULL);

    /* Empty and too-short texts are errors, not NaN. */
    p = (mb_perplexity_params){.n_ctx = 512};
    CHECK(mb_perplexity(m, "", 0, &p, &k) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "empty") != NULL);
    CHECK(mb_perplexity(m, "Once upon a time", 16, &p, &k) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "at least 1024") != NULL);

    mb_model_free(m);
    free(text);
    return mbt_finish();
}
