/* Pruning (src/quantize/prune.c, sparsegpt.c, densify.c): every method
 * gives each row exactly its share of zeros and N:M groups exactly N
 * non-zeros (read from the sparse types' bitmasks and from dense floats);
 * SparseGPT's layer output error on its calibration inputs is below
 * magnitude pruning's at the same sparsity; files record matchbox.sparse.*;
 * densify decodes to the same values; bad parameters are refused with a
 * message naming the problem and no output file. */
#include <string.h>

#include "format/gguf.h"
#include "matchbox/quantize.h"
#include "quantize/gptq.h"
#include "tensor/blocks.h"
#include "tensor/sparse.h"
#include "tensor/types.h"
#include "test_util.h"

static const char *const methods[] = {"magnitude", "wanda", "sparsegpt"};
static char model[512], text[512];

static mb_status prune(const char *out, int method, double s, int n, int m, const char *type,
                       const char *preset) {
    mb_prune_params p = mb_prune_default_params();
    p.method = (mb_prune_method)method;
    p.sparsity = s;
    p.n = n, p.m = m;
    p.type = type;
    p.preset = preset;
    p.calib_path = method ? text : NULL;
    p.calib_chunks = 4;
    p.calib_ctx = 32;
    p.n_threads = 2;
    return mb_prune_file(model, out, &p, NULL);
}

static int is_pruned(const mb_gguf_tensor *t) {
    return strncmp(t->name, "blk.", 4) == 0 && t->n_dims == 2 && strstr(t->name, ".weight") &&
           !strstr(t->name, "norm");
}

/* Kept weights per row (and per N:M group) of every pruned matrix: from
 * the bitmasks of a sparse type, from the values of a dense one. */
static void check_counts(const char *path, const char *what, double s, int n, int m) {
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 0, 0, &g));
    if (!g) return;
    int checked = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        if (!is_pruned(t)) continue;
        checked++;
        const int cols = (int)t->ne[0];
        const int sparse = t->type == MB_TYPE_SQ4 || t->type == MB_TYPE_SQ8;
        const size_t bb = t->type == MB_TYPE_SQ4 ? sizeof(mb_block_sq4) : sizeof(mb_block_sq8);
        uint64_t row_bytes = 0;
        mb_type_row_bytes(t->type, t->ne[0], &row_bytes);
        float *row = malloc(sizeof *row * (size_t)cols);
        unsigned char *kept = malloc((size_t)cols);
        int bad_row = 0, bad_group = 0, over_cap = 0;
        for (uint64_t r = 0; r < t->ne[1]; r++) {
            const uint8_t *src = t->data + r * row_bytes;
            if (sparse) {
                for (int b = 0; b < cols / MB_QK_SPARSE; b++) {
                    const uint8_t *blk = src + (size_t)b * bb;
                    over_cap += mb_sparse_count(blk) > MB_SPARSE_CAP;
                    for (int e = 0; e < MB_QK_SPARSE; e++)
                        kept[b * MB_QK_SPARSE + e] = (blk[e >> 3] >> (e & 7)) & 1;
                }
            } else {
                mb_type_get(t->type)->to_float(src, row, cols);
                for (int e = 0; e < cols; e++)
                    kept[e] = row[e] != 0.0f;
            }
            int nz = 0;
            for (int e = 0; e < cols; e++)
                nz += kept[e];
            if (n) {
                for (int e = 0; e < cols; e += m) {
                    int k = 0;
                    for (int q = 0; q < m; q++)
                        k += kept[e + q];
                    bad_group += k != n;
                }
            } else {
                bad_row += nz != cols - (int)lround(s * cols);
            }
        }
        CHECK_MSG(!bad_row && !bad_group && !over_cap,
                  "%s: %s: %d rows off the sparsity, %d groups off %d:%d, %d blocks over the cap",
                  what, t->name, bad_row, bad_group, n, m, over_cap);
        free(row);
        free(kept);
    }
    CHECK_MSG(checked >= 7, "%s: %d pruned matrices", what, checked);
    mb_str pattern = {0};
    CHECK_OK(mb_gguf_get_str(g, "matchbox.sparse.pattern", &pattern));
    CHECK(pattern.ptr && pattern.len == (n ? 3u : 12u));
    float sp = 0;
    CHECK_OK(mb_gguf_get_f32(g, "matchbox.sparse.sparsity", &sp));
    CHECK(fabs(sp - (n ? 1.0 - (double)n / m : s)) < 1e-6);
    mb_gguf_close(g);
}

/* The densified file decodes to the same values as the sparse one. */
static void check_densify(const char *sparse, const char *dense) {
    CHECK_OK(mb_densify_file(sparse, dense, NULL));
    mb_gguf *a = NULL, *b = NULL;
    CHECK_OK(mb_gguf_open(sparse, 0, 0, &a));
    CHECK_OK(mb_gguf_open(dense, 0, 0, &b));
    if (!a || !b) return;
    int n_sparse = 0, differ = 0;
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const mb_gguf_tensor *ta = &a->tensors[i], *tb = mb_gguf_find_tensor(b, ta->name);
        if (!tb || ta->type == MB_TYPE_F32) continue;
        n_sparse += ta->type == MB_TYPE_SQ4 || ta->type == MB_TYPE_SQ8;
        CHECK(tb->type != MB_TYPE_SQ4 && tb->type != MB_TYPE_SQ8);
        const uint64_t n = ta->ne[0] * ta->ne[1];
        float *x = malloc(sizeof *x * n), *y = malloc(sizeof *y * n);
        mb_type_get(ta->type)->to_float(ta->data, x, (int64_t)n);
        mb_type_get(tb->type)->to_float(tb->data, y, (int64_t)n);
        /* Equal as numbers: Q4_0's code of zero times a negative scale is -0. */
        for (uint64_t e = 0; e < n; e++)
            if (x[e] != y[e]) {
                differ++;
                break;
            }
        free(x);
        free(y);
    }
    CHECK(n_sparse >= 7);
    CHECK_MSG(differ == 0, "%d densified tensors differ", differ);
    mb_gguf_close(a);
    mb_gguf_close(b);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double gauss(void) {
    double u = (mbt_rand_float(&rng) + 1.0) * 0.5 + 1e-12, v = (mbt_rand_float(&rng) + 1.0) * 0.5;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* ||(W - W') X||^2 over the rows of X. */
static double out_err(const float *w, const float *wp, const float *x, int rows, int n, int t) {
    double e = 0;
    for (int s = 0; s < t; s++)
        for (int r = 0; r < rows; r++) {
            double d = 0;
            for (int j = 0; j < n; j++)
                d += (double)(w[r * n + j] - wp[r * n + j]) * x[s * n + j];
            e += d * d;
        }
    return e;
}

/* Magnitude pruning of one row: the lowest |w| of each group of G go, K of them. */
static void magnitude(float *row, int n, int g, int k) {
    for (int b = 0; b < n; b += g)
        for (int z = 0; z < k; z++) {
            int lo = -1;
            for (int j = b; j < b + g; j++)
                if (row[j] != 0.0f && (lo < 0 || fabsf(row[j]) < fabsf(row[lo]))) lo = j;
            row[lo] = 0.0f;
        }
}

/* A layer whose inputs are correlated (mixed from fewer sources, with
 * channels of different scales, as activations are): SparseGPT's
 * compensation should beat dropping the smallest weights. */
static void test_layer_error(void) {
    enum { N = 128, ROWS = 32, T = 512, SRC = 48 };
    float *x = malloc(sizeof *x * T * N), *w = malloc(sizeof *w * ROWS * N);
    float *wm = malloc(sizeof *wm * ROWS * N), *ws = malloc(sizeof *ws * ROWS * N);
    double *h = calloc((size_t)N * N, sizeof *h);
    float mix[SRC][N], scale[N];
    for (int j = 0; j < N; j++)
        scale[j] = (float)(0.2 + 2.0 * ((j * 37) % N) / N);
    for (int k = 0; k < SRC; k++)
        for (int j = 0; j < N; j++)
            mix[k][j] = (float)gauss();
    for (int s = 0; s < T; s++) {
        double z[SRC];
        for (int k = 0; k < SRC; k++)
            z[k] = gauss();
        for (int j = 0; j < N; j++) {
            double v = 0.1 * gauss();
            for (int k = 0; k < SRC; k++)
                v += z[k] * mix[k][j];
            x[s * N + j] = (float)(v * scale[j] / 7.0);
        }
    }
    for (int s = 0; s < T; s++)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                h[i * N + j] += (double)x[s * N + i] * x[s * N + j];
    for (int i = 0; i < ROWS * N; i++)
        w[i] = (float)gauss();
    const int pats[2][2] = {{0, 0}, {2, 4}};
    for (int pi = 0; pi < 2; pi++) {
        const int pn = pats[pi][0], pm = pats[pi][1];
        memcpy(wm, w, sizeof *w * ROWS * N);
        memcpy(ws, w, sizeof *w * ROWS * N);
        for (int r = 0; r < ROWS; r++)
            magnitude(wm + r * N, N, pn ? pm : N, pn ? pm - pn : N / 2);
        const mb_sparsegpt_params sp = {.sparsity = 0.5, .n = pn, .m = pm, .n_threads = 2};
        CHECK_OK(mb_sparsegpt_prune(ws, ROWS, N, h, &sp));
        int zeros = 0;
        for (int i = 0; i < ROWS * N; i++)
            zeros += ws[i] == 0.0f;
        CHECK(zeros == ROWS * N / 2);
        const double em = out_err(w, wm, x, ROWS, N, T), es = out_err(w, ws, x, ROWS, N, T);
        printf("layer %s: output error magnitude %.4g, sparsegpt %.4g (%.2fx)\n",
               pn ? "2:4" : "50%", em, es, es / em);
        CHECK_MSG(es < 0.8 * em, "sparsegpt %g not below magnitude %g", es, em);
    }
    free(x);
    free(w);
    free(wm);
    free(ws);
    free(h);
}

static void expect_refused(const char *out, int method, double s, int n, int m, const char *type,
                           int calib, const char *needle) {
    mb_prune_params p = mb_prune_default_params();
    p.method = (mb_prune_method)method;
    p.sparsity = s;
    p.n = n, p.m = m;
    p.type = type;
    p.calib_path = calib ? text : NULL;
    p.n_threads = 2;
    const mb_status st = mb_prune_file(model, out, &p, NULL);
    CHECK_MSG(st != MB_OK && strstr(mb_last_error(), needle), "expected '%s', got %s: %s", needle,
              mb_status_str(st), mb_last_error());
    FILE *f = fopen(out, "rb");
    CHECK_MSG(f == NULL, "%s written for refused parameters", out);
    if (f) fclose(f);
}

int main(void) {
    const char *dir = mbt_tmpdir();
    char out[600], dense[600];
    snprintf(model, sizeof model, "%s/prune-tiny.gguf", dir);
    snprintf(text, sizeof text, "%s/calib.txt", dir);
    const mbt_tiny_model cfg = {.n_embd = 256,
                                .n_layer = 1,
                                .n_head = 4,
                                .n_head_kv = 2,
                                .n_ff = 512,
                                .n_ctx = 64,
                                .seed = 9};
    CHECK_OK(mbt_write_tiny_model(model, &cfg));
    if (mbt_write_calib_text(text) != 0) {
        CHECK(!"cannot write the calibration text");
        return mbt_finish();
    }
    test_layer_error();
    const struct {
        double s;
        int n, m;
        const char *type, *preset;
    } cases[] = {
        {0.5, 0, 0, "SQ8", "Q8_0"}, {0.7, 0, 0, "SQ4", "Q8_0"}, {0.5, 2, 4, "SQ8", "Q8_0"},
        {0.5, 4, 8, "SQ4", "Q8_0"}, {0.3, 0, 0, NULL, "F32"},   {0.5, 2, 4, NULL, "F32"},
    };
    for (int mi = 0; mi < 3; mi++)
        for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
            char what[128];
            snprintf(what, sizeof what, "%s %.2f %d:%d %s", methods[mi], cases[ci].s, cases[ci].n,
                     cases[ci].m, cases[ci].type ? cases[ci].type : cases[ci].preset);
            snprintf(out, sizeof out, "%s/pruned-%d-%zu.gguf", dir, mi, ci);
            CHECK_OK(prune(out, mi, cases[ci].s, cases[ci].n, cases[ci].m, cases[ci].type,
                           cases[ci].preset));
            check_counts(out, what, cases[ci].s, cases[ci].n, cases[ci].m);
            mb_gguf *g = NULL;
            mb_str name = {0};
            CHECK_OK(mb_gguf_open(out, 0, 0, &g));
            if (g) CHECK_OK(mb_gguf_get_str(g, "matchbox.sparse.method", &name));
            CHECK(name.ptr && name.len == strlen(methods[mi]) &&
                  !memcmp(name.ptr, methods[mi], name.len));
            mb_gguf_close(g);
            if (ci < 2) {
                snprintf(dense, sizeof dense, "%s/dense-%d-%zu.gguf", dir, mi, ci);
                check_densify(out, dense);
            }
        }
    snprintf(out, sizeof out, "%s/refused.gguf", dir);
    expect_refused(out, 0, 1.5, 0, 0, "SQ4", 0, "sparsity 1.5");
    expect_refused(out, 0, -0.1, 0, 0, "SQ4", 0, "sparsity");
    expect_refused(out, 0, 0.5, 4, 2, "SQ4", 0, "pattern 4:2");
    expect_refused(out, 0, 0.5, 3, 4, "SQ4", 0, "keeps more than half");
    expect_refused(out, 0, 0.3, 0, 0, "SQ4", 0, "sparsity 0.30");
    expect_refused(out, 1, 0.5, 0, 0, "SQ4", 0, "wanda needs a calibration text");
    expect_refused(out, 2, 0.5, 0, 0, "SQ4", 0, "sparsegpt needs a calibration text");
    expect_refused(out, 2, 0.5, 0, 0, "Q4_0", 1, "type 'Q4_0'");
    expect_refused(out, 7, 0.5, 0, 0, "SQ4", 1, "unknown pruning method");
    return mbt_finish();
}
