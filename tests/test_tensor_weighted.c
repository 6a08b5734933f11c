/* Importance-weighted encoders: on rows whose columns have skewed
 * importance (a few channels 50x the rest, as activation outliers make
 * them), the weighted encoders' importance-weighted squared error is below
 * the plain encoders' for every type that has one, and the blocks decode
 * with the standard decoders. */
#include <math.h>
#include <stdlib.h>

#include "tensor/quant_weighted.h"
#include "tensor/types.h"
#include "test_util.h"

enum { N = 4096 };

static double weighted_err(const float *x, const float *y, const float *qw) {
    double e = 0;
    for (int i = 0; i < N; i++)
        e += qw[i] * ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return e;
}

int main(void) {
    static float x[N], qw[N], y[N];
    static uint8_t buf[N * 2];
    uint64_t rng = 42;
    for (int i = 0; i < N; i++) {
        /* roughly normal: sum of uniforms */
        float v = 0;
        for (int k = 0; k < 4; k++)
            v += mbt_rand_float(&rng);
        x[i] = 0.02f * v;
        qw[i] = (mbt_rand_u64(&rng) % 10 == 0) ? 50.0f : 1.0f;
    }
    const uint32_t types[] = {MB_TYPE_Q4_0, MB_TYPE_Q4_1, MB_TYPE_Q5_0, MB_TYPE_Q5_1, MB_TYPE_Q2_K,
                              MB_TYPE_Q3_K, MB_TYPE_Q4_K, MB_TYPE_Q5_K, MB_TYPE_Q6_K};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        const mb_type_traits *tr = mb_type_get(types[t]);
        tr->from_float(x, buf, N);
        tr->to_float(buf, y, N);
        const double plain = weighted_err(x, y, qw);
        CHECK(mb_quant_row_weighted(types[t], x, buf, N, qw) == 1);
        tr->to_float(buf, y, N);
        const double weighted = weighted_err(x, y, qw);
        printf("%-5s importance-weighted error: plain %.4g, weighted %.4g (%.1f%%)\n", tr->name,
               plain, weighted, 100.0 * (weighted / plain - 1));
        CHECK_MSG(weighted < 0.95 * plain, "%s: weighted %g vs plain %g", tr->name, weighted,
                  plain);
        /* Uniform importance must not be much worse than plain either. */
        static float ones[N];
        for (int i = 0; i < N; i++)
            ones[i] = 1.0f;
        mb_quant_row_weighted(types[t], x, buf, N, ones);
        tr->to_float(buf, y, N);
        const double uw = weighted_err(x, y, ones);
        tr->from_float(x, buf, N);
        tr->to_float(buf, y, N);
        const double up = weighted_err(x, y, ones);
        CHECK_MSG(uw < 1.10 * up, "%s: uniform weights %g vs plain %g", tr->name, uw, up);
    }
    CHECK(mb_quant_row_weighted(MB_TYPE_F16, x, buf, N, qw) == 0);
    return mbt_finish();
}
