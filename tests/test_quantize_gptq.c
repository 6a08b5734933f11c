/* GPTQ (src/quantize/gptq_solve.c, gptq_grid.c): the Cholesky inverse
 * against a direct solve, the emitted blocks decoding to exactly the values
 * GPTQ chose, and a lower output error than plain rounding on a layer whose
 * inputs are correlated (the case GPTQ's error compensation is for). */
#include "quantize/gptq.h"
#include "tensor/types.h"
#include "test_util.h"

static uint64_t rng = 88172645463325252ull;
static double uniform(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void) {
    double u = uniform() + 1e-12, v = uniform();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* A^-1 b against b solved by Gaussian elimination with partial pivoting. */
static void test_inverse(void) {
    enum { N = 24 };
    double a[N * N], inv[N * N], m[N][N + 1], b[N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            m[i][j] = gauss();
    for (int i = 0; i < N; i++) /* A = M M^T + I: symmetric positive definite */
        for (int j = 0; j < N; j++) {
            double s = i == j;
            for (int k = 0; k < N; k++)
                s += m[i][k] * m[j][k];
            a[i * N + j] = inv[i * N + j] = s;
        }
    CHECK_OK(mb_spd_inverse(inv, N));
    double g[N][N + 1];
    for (int i = 0; i < N; i++) {
        b[i] = gauss();
        for (int j = 0; j < N; j++)
            g[i][j] = a[i * N + j];
        g[i][N] = b[i];
    }
    for (int c = 0; c < N; c++) {
        int p = c;
        for (int r = c + 1; r < N; r++)
            if (fabs(g[r][c]) > fabs(g[p][c])) p = r;
        for (int k = 0; k <= N; k++) {
            double t = g[c][k];
            g[c][k] = g[p][k], g[p][k] = t;
        }
        for (int r = c + 1; r < N; r++) {
            double f = g[r][c] / g[c][c];
            for (int k = c; k <= N; k++)
                g[r][k] -= f * g[c][k];
        }
    }
    double x[N], worst = 0;
    for (int i = N - 1; i >= 0; i--) {
        double s = g[i][N];
        for (int k = i + 1; k < N; k++)
            s -= g[i][k] * x[k];
        x[i] = s / g[i][i];
    }
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int k = 0; k < N; k++)
            s += inv[i * N + k] * b[k];
        worst = fmax(worst, fabs(s - x[i]) / (fabs(x[i]) + 1e-9));
    }
    CHECK_MSG(worst < 1e-9, "relative difference %g", worst);
    /* The upper factor of the inverse: U^T U = A^-1 (checked against the
     * explicit inverse), U upper triangular with a positive diagonal. */
    double u[N * N], err = 0;
    int upper = 1;
    memcpy(u, a, sizeof u);
    CHECK_OK(mb_spd_inverse_upper_factor(u, N));
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < N; k++)
                s += u[k * N + i] * u[k * N + j];
            err = fmax(err, fabs(s - inv[i * N + j]) / fabs(inv[i * N + i]));
            upper &= j >= i ? (j > i || u[i * N + j] > 0) : u[i * N + j] == 0;
        }
    CHECK_MSG(err < 1e-9, "U^T U vs A^-1: %g", err);
    CHECK(upper);
    /* Not positive definite: an error, not a crash. */
    double bad[4] = {1, 2, 2, 1};
    CHECK(mb_cholesky(bad, 2) != MB_OK);
}

enum { K = 512, ROWS = 24, SAMPLES = 1024 };

/* ||X W^T - X Q^T||^2 over the samples. */
static double out_error(const float *x, const float *w, const float *q) {
    double e = 0;
    for (int s = 0; s < SAMPLES; s++)
        for (int r = 0; r < ROWS; r++) {
            double d = 0;
            for (int k = 0; k < K; k++)
                d += (double)x[s * K + k] * ((double)w[r * K + k] - q[r * K + k]);
            e += d * d;
        }
    return e;
}

static void test_layer(float *x, const double *h, const float *w, uint32_t type, int act_order,
                       int weighted_fit) {
    const mb_type_traits *tr = mb_type_get(type);
    const size_t row_bytes = tr->type_size * (K / tr->block_size);
    uint8_t *blocks = malloc(row_bytes * ROWS);
    float *scratch = malloc(sizeof(float) * K * ROWS), *deq = malloc(sizeof(float) * K * ROWS);
    float *rtn = malloc(sizeof(float) * K * ROWS), *dec = malloc(sizeof(float) * K * ROWS);
    memcpy(scratch, w, sizeof(float) * K * ROWS);
    mb_gptq_params p = {.damp = 0.01,
                        .act_order = act_order,
                        .lazy = 128,
                        .n_threads = 2,
                        .weighted_fit = weighted_fit};
    CHECK_OK(mb_gptq_quantize(scratch, ROWS, K, h, type, &p, blocks, deq));
    int exact = 1;
    for (int r = 0; r < ROWS; r++) {
        tr->to_float(blocks + r * row_bytes, dec + r * K, K);
        for (int k = 0; k < K; k++)
            exact &= dec[r * K + k] == deq[r * K + k];
        tr->from_float(w + r * K, blocks, K); /* plain rounding */
        tr->to_float(blocks, rtn + r * K, K);
    }
    CHECK_MSG(exact, "%s: blocks do not decode to GPTQ's values", tr->name);
    const double e_gptq = out_error(x, w, deq), e_rtn = out_error(x, w, rtn);
    printf("%-5s act_order=%d weighted_fit=%d: output error GPTQ %.4g, plain %.4g (%.1f%%)\n",
           tr->name, act_order, weighted_fit, e_gptq, e_rtn, 100 * e_gptq / e_rtn);
    CHECK_MSG(e_gptq < 0.9 * e_rtn, "%s: GPTQ %g vs plain %g", tr->name, e_gptq, e_rtn);
    free(blocks), free(scratch), free(deq), free(rtn), free(dec);
}

int main(void) {
    test_inverse();
    /* Inputs: each sample a smooth mix of a few latent factors plus noise,
     * so the columns are strongly correlated; a few louder channels. */
    float *x = malloc(sizeof(float) * SAMPLES * K), *w = malloc(sizeof(float) * ROWS * K);
    double *h = calloc((size_t)K * K, sizeof *h);
    for (int s = 0; s < SAMPLES; s++) {
        double f[8];
        for (int i = 0; i < 8; i++)
            f[i] = gauss();
        for (int k = 0; k < K; k++) {
            double v = 0.3 * gauss();
            for (int i = 0; i < 8; i++)
                v += f[i] * cos(0.01 * (i + 1) * k + i);
            x[s * K + k] = (float)(v * (k % 61 == 0 ? 4.0 : 1.0));
        }
    }
    for (int s = 0; s < SAMPLES; s++)
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                h[i * K + j] += (double)x[s * K + i] * x[s * K + j];
    for (int i = 0; i < ROWS * K; i++)
        w[i] = (float)(0.02 * gauss());
    const uint32_t types[] = {MB_TYPE_Q4_0, MB_TYPE_Q8_0, MB_TYPE_Q3_K, MB_TYPE_Q4_K, MB_TYPE_Q5_K,
                              MB_TYPE_Q6_K, MB_TYPE_Q2_K, MB_TYPE_Q5_0, MB_TYPE_Q4_1, MB_TYPE_Q5_1};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        test_layer(x, h, w, types[i], 0, 0);
    test_layer(x, h, w, MB_TYPE_Q4_K, 1, 0);
    test_layer(x, h, w, MB_TYPE_Q4_0, 1, 0);
    test_layer(x, h, w, MB_TYPE_Q4_K, 0, 1);
    test_layer(x, h, w, MB_TYPE_Q3_K, 1, 1);
    /* A type without a grid is refused with a message. */
    float one[32] = {0};
    uint8_t buf[64];
    mb_gptq_params p = {.damp = 0.01};
    CHECK(mb_gptq_quantize(one, 1, 32, h, MB_TYPE_F16, &p, buf, NULL) == MB_ERR_UNSUPPORTED);
    free(x), free(w), free(h);
    return mbt_finish();
}
