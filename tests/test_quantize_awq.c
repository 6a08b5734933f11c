/* AWQ's search (src/quantize/awq_search.c): the Gram-matrix error metric
 * equals the output error computed directly, on a layer with outlier
 * input channels the searched scales beat plain rounding, and with the
 * importance-weighted encoders (weighted fit) the search ends lower still
 * on a layer whose channels differ in loudness. */
#include "quantize/awq.h"
#include "tensor/types.h"
#include "test_util.h"

enum { K = 256, ROWS = 48, SAMPLES = 512 };

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double direct_error(const float *x, const float *w, uint32_t type) {
    const mb_type_traits *tr = mb_type_get(type);
    uint8_t bytes[K * 2];
    float q[K];
    double e = 0;
    for (int r = 0; r < ROWS; r++) {
        tr->from_float(w + r * K, bytes, K);
        tr->to_float(bytes, q, K);
        for (int s = 0; s < SAMPLES; s++) {
            double d = 0;
            for (int k = 0; k < K; k++)
                d += (double)x[s * K + k] * ((double)w[r * K + k] - q[k]);
            e += d * d;
        }
    }
    return e;
}

/* H = X^T X (in double HD and float H) and the mean |x| of each channel. */
static void stats_of(const float *x, double *hd, float *h, double *mean) {
    memset(hd, 0, sizeof *hd * K * K);
    for (int k = 0; k < K; k++)
        mean[k] = 0;
    for (int s = 0; s < SAMPLES; s++)
        for (int i = 0; i < K; i++) {
            mean[i] += fabsf(x[s * K + i]) / SAMPLES;
            for (int j = 0; j < K; j++)
                hd[i * K + j] += (double)x[s * K + i] * x[s * K + j];
        }
    for (int i = 0; i < K * K; i++)
        h[i] = (float)hd[i];
}

/* X with channel k scaled by 10^(k/K - 0.5) (shuffled by a stride so
 * loud and quiet channels share every block), its H and mean |x|. */
static void uneven(float *x, double *hd, float *h, double *mean) {
    for (int s = 0; s < SAMPLES; s++)
        for (int k = 0; k < K; k++)
            x[s * K + k] = mbt_rand_float(&rng) * powf(10.0f, (float)((k * 97) % K) / K - 0.5f);
    stats_of(x, hd, h, mean);
}

int main(void) {
    float *x = malloc(sizeof(float) * SAMPLES * K), *w = malloc(sizeof(float) * ROWS * K);
    float *h = calloc((size_t)K * K, sizeof *h);
    double *hd = calloc((size_t)K * K, sizeof *hd), mean[K] = {0};
    /* Activations like an LLM's: most channels small, a few 30x louder. */
    for (int s = 0; s < SAMPLES; s++)
        for (int k = 0; k < K; k++)
            x[s * K + k] = mbt_rand_float(&rng) * (k % 37 == 5 ? 30.0f : 1.0f);
    for (int i = 0; i < ROWS * K; i++)
        w[i] = 0.05f * mbt_rand_float(&rng);
    stats_of(x, hd, h, mean);
    const uint32_t types[] = {MB_TYPE_Q4_0, MB_TYPE_Q4_K, MB_TYPE_Q3_K};
    for (int t = 0; t < 3; t++) {
        mb_awq_matrix m = {w, ROWS, types[t], 0};
        /* The metric: d^T H d summed equals ||X W^T - X Q^T||^2. */
        const double via_h = mb_awq_error(&m, K, NULL, h, 2), direct = direct_error(x, w, types[t]);
        CHECK_MSG(fabs(via_h - direct) <= 1e-3 * direct, "%s: %g vs %g", mb_type_name(types[t]),
                  via_h, direct);
        float s[K], alpha = -1;
        double best = 0, plain = 0;
        CHECK_OK(mb_awq_search(&m, 1, K, h, mean, 20, 2, s, &alpha, &best, &plain));
        CHECK_NEAR(plain, via_h, 1e-6 * via_h);
        printf("%s: alpha %.2f, output error %.4g -> %.4g (%.1f%%)\n", mb_type_name(types[t]),
               (double)alpha, plain, best, 100 * best / plain);
        CHECK_MSG(best <= plain, "%s", mb_type_name(types[t]));
        CHECK_MSG(best < 0.9 * plain && alpha > 0, "%s: outliers should gain, %g vs %g",
                  mb_type_name(types[t]), best, plain);
        /* The error reported for the chosen scales is what they give. */
        CHECK_NEAR(mb_awq_error(&m, K, s, h, 1), best, 1e-6 * best);
    }
    /* Uneven channels without outliers: loudness log-spread over 10x (as
     * AWQ's s would be, so the weighted encoder must find the same
     * importances under every alpha). Weighted fit lowers the error of every
     * encode it makes, so the searched weighted error must not exceed the
     * plain-fit search's, and must be clearly below plain rounding. */
    uneven(x, hd, h, mean);
    const uint32_t wtypes[] = {MB_TYPE_Q4_0, MB_TYPE_Q4_K, MB_TYPE_Q3_K, MB_TYPE_Q5_K};
    for (int t = 0; t < 4; t++) {
        mb_awq_matrix mp = {w, ROWS, wtypes[t], 0}, mw = {w, ROWS, wtypes[t], 1};
        float sp[K], sw[K], ap = -1, aw = -1;
        double bp = 0, pp = 0, bw = 0, pw = 0;
        CHECK_OK(mb_awq_search(&mp, 1, K, h, mean, 20, 2, sp, &ap, &bp, &pp));
        CHECK_OK(mb_awq_search(&mw, 1, K, h, mean, 20, 2, sw, &aw, &bw, &pw));
        printf("%s uneven: plain rounding %.4g; awq alpha %.2f %.4g; weighted alpha %.2f %.4g "
               "(%.1f%% of plain-fit awq), weighted alpha 0 %.4g\n",
               mb_type_name(wtypes[t]), pp, (double)ap, bp, (double)aw, bw, 100 * bw / bp, pw);
        CHECK_MSG(bw <= bp, "%s: weighted %g > plain-fit %g", mb_type_name(wtypes[t]), bw, bp);
        CHECK_MSG(bw < 0.95 * pp, "%s: weighted %g vs plain rounding %g", mb_type_name(wtypes[t]),
                  bw, pp);
        /* Alpha 0 weighted is the imatrix fit: already below plain rounding. */
        CHECK_MSG(pw < pp, "%s", mb_type_name(wtypes[t]));
        /* The reported error is that of the weighted encode of the chosen s. */
        CHECK_NEAR(mb_awq_error(&mw, K, aw > 0 ? sw : NULL, h, 1), bw, 1e-6 * bw);
    }
    /* Importances: H_kk / s_k^2, normalized to mean 1. */
    float qw[K], s1[K];
    mb_awq_scales(mean, K, 0.5f, s1);
    mb_awq_importances(h, K, s1, qw);
    double qmean = 0;
    for (int k = 0; k < K; k++)
        qmean += qw[k] / K;
    CHECK_NEAR(qmean, 1.0, 1e-4);
    CHECK_NEAR(qw[3] / qw[200],
               (h[3 * K + 3] / (s1[3] * s1[3])) / (h[200 * K + 200] / (s1[200] * s1[200])),
               1e-4 * qw[3] / qw[200]);
    /* Scales: normalized so that sqrt(max * min) = 1, alpha 0 gives ones. */
    float s[K];
    mb_awq_scales(mean, K, 0.0f, s);
    int ones = 1;
    for (int k = 0; k < K; k++)
        ones &= s[k] == 1.0f;
    CHECK(ones);
    mb_awq_scales(mean, K, 0.5f, s);
    float lo = s[0], hi = s[0];
    for (int k = 1; k < K; k++)
        lo = fminf(lo, s[k]), hi = fmaxf(hi, s[k]);
    CHECK_NEAR(sqrt((double)lo * hi), 1.0, 1e-5);
    free(x), free(w), free(h), free(hd);
    return mbt_finish();
}
