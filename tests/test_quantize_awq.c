/* AWQ's search (src/quantize/awq_search.c): the Gram-matrix error metric
 * equals the output error computed directly, and on a layer with outlier
 * input channels the searched scales beat plain rounding. */
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
    for (int s = 0; s < SAMPLES; s++)
        for (int i = 0; i < K; i++) {
            mean[i] += fabsf(x[s * K + i]) / SAMPLES;
            for (int j = 0; j < K; j++)
                hd[i * K + j] += (double)x[s * K + i] * x[s * K + j];
        }
    for (int i = 0; i < K * K; i++)
        h[i] = (float)hd[i];
    const uint32_t types[] = {MB_TYPE_Q4_0, MB_TYPE_Q4_K, MB_TYPE_Q3_K};
    for (int t = 0; t < 3; t++) {
        mb_awq_matrix m = {w, ROWS, types[t]};
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
