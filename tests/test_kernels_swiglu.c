/* The SIMD SwiGLU kernels against the scalar reference (mb_swiglu): random
 * gates over the range activations reach, lengths with vector tails, the
 * saturated ends (silu(g) -> g for large g, -> 0 for very negative g) and
 * zero; in place (out aliasing gate) as the forward pass calls it. */
#include <math.h>
#include <stdlib.h>

#include "kernels/kernels.h"
#include "test_levels.h"
#include "test_util.h"

/* A few ulp: the vector exp is within 2 ulp of expf, then one division and
 * one product round as the scalar ones do; tiny absolute slack where the
 * reference gives -0 (exp(-g) overflowed) and the vector exp, clamped at
 * e^88, would give about -g * 6e-39 (the kernels clear it). */
static int close_enough(float got, float want) {
    return fabsf(got - want) <= 1e-6f * fabsf(want) + 1e-35f;
}

static void check_level(const mb_kernel_table *kt) {
    static const int lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 33, 1000};
    uint64_t rng = 3;
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        const int n = lens[li];
        float *g = malloc((n + 1) * sizeof *g), *u = malloc((n + 1) * sizeof *u);
        float *want = malloc((n + 1) * sizeof *want), *got = malloc((n + 1) * sizeof *got);
        for (int i = 0; i < n; i++) {
            const int kind = i % 5;
            const float r = mbt_rand_float(&rng);
            g[i] = kind == 0   ? 12.0f * r
                   : kind == 1 ? 95.0f * r
                   : kind == 2 ? 1e-20f * r
                   : kind == 3 ? (r < 0 ? -1e4f : 1e4f)
                               : 0.0f;
            u[i] = 3.0f * mbt_rand_float(&rng);
            got[i] = g[i];
        }
        mb_swiglu(want, g, u, n);
        kt->swiglu(got, got, u, n); /* in place */
        int bad = 0;
        for (int i = 0; i < n; i++)
            if (!close_enough(got[i], want[i])) {
                if (!bad)
                    CHECK_MSG(0, "%s n %d [%d]: silu(%g) * %g = %.9g, reference %.9g", kt->name, n,
                              i, g[i], u[i], got[i], want[i]);
                bad = 1;
            }
        CHECK_MSG(!bad, "%s SwiGLU of %d values matches the reference", kt->name, n);
        free(g), free(u), free(want), free(got);
    }
}

int main(int argc, char **argv) {
    const mb_kernel_table *levels[MBT_N_SIMD_LEVELS];
    const int n_levels = mbt_simd_levels(argc, argv, levels);
    int n_simd = 0;
    for (int i = 0; i < n_levels; i++) {
        const mb_kernel_table *kt = levels[i];
        if (!kt->swiglu) continue;
        n_simd++;
        check_level(kt);
    }
    if (!n_simd) mbt_skip("no SIMD SwiGLU on this CPU");
    return mbt_finish();
}
