/* The weighted K-quants' scale coding (quant_kscales.c) follows the
 * importances: when one 32-value sub-block of every super-block carries
 * most of the importance, the weighted encoders cut that sub-block's error
 * below the plain encoders' (the plain coder sets the super-block
 * scale from the largest sub-block scale, whatever it matters), and with
 * uniform importances they are no worse than plain by the plain error. */
#include <math.h>

#include "tensor/quant_weighted.h"
#include "tensor/types.h"
#include "test_util.h"

enum { N = 256 * 64 };

static double err(const float *x, const float *y, const float *qw, int lo, int hi) {
    double e = 0;
    for (int i = 0; i < N; i++)
        if (i % 256 >= lo && i % 256 < hi) e += qw[i] * ((double)x[i] - y[i]) * (x[i] - y[i]);
    return e;
}

int main(void) {
    static float x[N], qw[N], ones[N], y[N];
    static uint8_t buf[N * 2];
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        float v = 0;
        for (int k = 0; k < 4; k++)
            v += mbt_rand_float(&rng);
        /* the important sub-block holds small values: the plain coder's
         * max-based scale is coarsest exactly there */
        x[i] = (i % 256 < 32 ? 0.2f : 1.0f) * v;
        qw[i] = i % 256 < 32 ? 100.0f : 1.0f;
        ones[i] = 1.0f;
    }
    const uint32_t types[] = {MB_TYPE_Q2_K, MB_TYPE_Q3_K, MB_TYPE_Q4_K, MB_TYPE_Q5_K, MB_TYPE_Q6_K};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        const mb_type_traits *tr = mb_type_get(types[t]);
        tr->from_float(x, buf, N);
        tr->to_float(buf, y, N);
        const double plain_hot = err(x, y, qw, 0, 32), plain_all = err(x, y, ones, 0, 256);
        CHECK(mb_quant_row_weighted(types[t], x, buf, N, qw) == 1);
        tr->to_float(buf, y, N);
        const double w_hot = err(x, y, qw, 0, 32), w_total = err(x, y, qw, 0, 256);
        tr->from_float(x, buf, N);
        tr->to_float(buf, y, N);
        const double plain_total = err(x, y, qw, 0, 256);
        mb_quant_row_weighted(types[t], x, buf, N, ones);
        tr->to_float(buf, y, N);
        const double u_all = err(x, y, ones, 0, 256);
        printf("%-5s important sub-block: plain %.4g, weighted %.4g (%.0f%%); total weighted "
               "error %.0f%%; uniform importances vs plain %+.1f%%\n",
               tr->name, plain_hot, w_hot, 100 * (w_hot / plain_hot - 1),
               100 * (w_total / plain_total - 1), 100 * (u_all / plain_all - 1));
        CHECK_MSG(w_hot < 0.95 * plain_hot, "%s: %g vs %g", tr->name, w_hot, plain_hot);
        CHECK_MSG(w_total < plain_total, "%s: %g vs %g", tr->name, w_total, plain_total);
        CHECK_MSG(u_all < 1.02 * plain_all, "%s: uniform %g vs plain %g", tr->name, u_all,
                  plain_all);
    }
    return mbt_finish();
}
