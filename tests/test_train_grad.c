/* Every backward op of the trainer against central finite differences on
 * tiny shapes in float32. Each check projects the op's output on a fixed
 * random tensor R (L = sum(y * R), summed in double), runs the backward with
 * dy = R, and compares every analytic derivative with (L(p+e) - L(p-e)) / 2e,
 * relative error |a - n| / max(|a|, |n|, FLOOR) <= 1e-3. FLOOR is the RMS of
 * the tensor's gradient: float32 rounding of the forward leaves an absolute
 * noise of about 1e-4 of the gradient's scale in the difference quotient, so
 * a derivative much smaller than its neighbours is judged against their
 * scale, not its own (which only noise would fail). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "train/lora.h"
#include "train/ops.h"
#include "train/train.h"

#define TOL 1e-3

static uint64_t seed = 42;

static float *randv(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = mbt_rand_float(&seed) * scale;
    return v;
}

static double proj(const float *y, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)y[i] * r[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Compare ANALYTIC[i] with the numeric derivative of F in P[i], every i. */
static void check_grad_eps(const char *what, loss_fn f, void *ctx, float *p, const float *analytic,
                           size_t n, float eps, int five_point) {
    double worst = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (double)analytic[i] * analytic[i];
    double floor = sqrt(ss / n);
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        double num;
        if (five_point) {
            double l[4];
            const float off[4] = {2, 1, -1, -2};
            for (int k = 0; k < 4; k++) {
                p[i] = keep + off[k] * eps;
                l[k] = f(ctx);
            }
            num = (-l[0] + 8 * l[1] - 8 * l[2] + l[3]) / (12.0 * eps);
        } else {
            p[i] = keep + eps;
            double lp = f(ctx);
            p[i] = keep - eps;
            num = (lp - f(ctx)) / (2.0 * eps);
        }
        p[i] = keep;
        double a = analytic[i];
        double den = fmax(fmax(fabs(a), fabs(num)), floor);
        double err = fabs(a - num) / den;
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
    }
    CHECK_MSG(floor > 0 && worst <= TOL, "%s: relative error %.3g at %zu (analytic %.6g)", what,
              worst, worst_i, analytic[worst_i]);
}

static void check_grad(const char *what, loss_fn f, void *ctx, float *p, const float *analytic,
                       size_t n) {
    check_grad_eps(what, f, ctx, p, analytic, n, 1e-3f, 0);
}

/* ---- linear ---- */
typedef struct {
    float *x, *w, *y, *r;
    int n, in, out;
} lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = p;
    mb_linear_forward(NULL, c->y, c->x, c->w, c->n, c->in, c->out);
    return proj(c->y, c->r, (size_t)c->n * c->out);
}

static void test_linear(void) {
    /* odd sizes exercise the vector tails and the 4-row blocks' remainder */
    lin_ctx c = {.n = 5, .in = 11, .out = 7};
    c.x = randv(55, 1);
    c.w = randv(77, 1);
    c.r = randv(35, 1);
    c.y = malloc(35 * sizeof(float));
    float *dx = malloc(55 * sizeof(float)), *dw = calloc(77, sizeof(float));
    float *scratch = malloc(mb_linear_scratch_floats(c.n, c.in, c.out) * sizeof(float));
    mb_linear_backward(NULL, dx, dw, c.r, c.x, c.w, c.n, c.in, c.out, 0, scratch);
    free(scratch);
    check_grad("linear dx", lin_loss, &c, c.x, dx, 55);
    check_grad("linear dW", lin_loss, &c, c.w, dw, 77);
    free(c.x), free(c.w), free(c.r), free(c.y), free(dx), free(dw);
}

/* ---- embedding ---- */
typedef struct {
    float *table, *x, *r;
    const int32_t *tok;
} emb_ctx;

static double emb_loss(void *p) {
    emb_ctx *c = p;
    mb_embed_forward(c->x, c->table, c->tok, 6, 4);
    return proj(c->x, c->r, 24);
}

static void test_embedding(void) {
    static const int32_t tok[6] = {2, 0, 2, 4, 1, 2}; /* repeats accumulate */
    emb_ctx c = {
        .table = randv(20, 1), .x = malloc(24 * sizeof(float)), .r = randv(24, 1), .tok = tok};
    float *dt = calloc(20, sizeof(float));
    mb_embed_backward(dt, c.r, tok, 6, 4);
    check_grad("embedding", emb_loss, &c, c.table, dt, 20);
    free(c.table), free(c.x), free(c.r), free(dt);
}

/* ---- rmsnorm ---- */
typedef struct {
    float *x, *w, *y, *rs, *r;
} norm_ctx;

static double norm_loss(void *p) {
    norm_ctx *c = p;
    mb_rmsnorm_forward(NULL, c->y, c->rs, c->x, c->w, 3, 8, 1e-5f);
    return proj(c->y, c->r, 24);
}

static void test_rmsnorm(void) {
    norm_ctx c = {.x = randv(24, 1),
                  .w = randv(8, 1),
                  .y = malloc(24 * sizeof(float)),
                  .rs = malloc(3 * sizeof(float)),
                  .r = randv(24, 1)};
    float *dx = malloc(24 * sizeof(float)), *dw = calloc(8, sizeof(float));
    norm_loss(&c);
    mb_rmsnorm_backward(NULL, dx, dw, c.r, c.x, c.rs, c.w, 3, 8, 0);
    check_grad("rmsnorm dx", norm_loss, &c, c.x, dx, 24);
    check_grad("rmsnorm dw", norm_loss, &c, c.w, dw, 8);
    free(c.x), free(c.w), free(c.y), free(c.rs), free(c.r), free(dx), free(dw);
}

/* ---- rope ---- */
typedef struct {
    float *x, *y, *cs, *r;
} rope_ctx;

static double rope_loss(void *p) {
    rope_ctx *c = p;
    memcpy(c->y, c->x, 48 * sizeof(float));
    mb_rope_forward(c->y, c->cs, 6, 3, 2, 4); /* 2 sequences of 3, 2 heads of 4 */
    return proj(c->y, c->r, 48);
}

static void test_rope(void) {
    rope_ctx c = {.x = randv(48, 1),
                  .y = malloc(48 * sizeof(float)),
                  .cs = malloc(3 * 4 * sizeof(float)),
                  .r = randv(48, 1)};
    mb_rope_table(c.cs, 3, 4, 10000.0f);
    float *dx = malloc(48 * sizeof(float));
    memcpy(dx, c.r, 48 * sizeof(float));
    mb_rope_backward(dx, c.cs, 6, 3, 2, 4);
    check_grad("rope", rope_loss, &c, c.x, dx, 48);
    free(c.x), free(c.y), free(c.cs), free(c.r), free(dx);
}

/* ---- attention: 2 sequences of 5, 4 query heads sharing 2 kv heads ---- */
enum { AS = 2, AT = 5, AH = 4, AKV = 2, AHD = 4, AN = AS * AT };
typedef struct {
    float *q, *k, *v, *out, *probs, *r;
    mb_attn_shape s;
} attn_ctx;

static double attn_loss(void *p) {
    attn_ctx *c = p;
    mb_attention_forward(NULL, &c->s, c->out, c->probs, c->q, c->k, c->v);
    return proj(c->out, c->r, AN * AH * AHD);
}

static void test_attention(void) {
    attn_ctx c = {.q = randv(AN * AH * AHD, 1),
                  .k = randv(AN * AKV * AHD, 1),
                  .v = randv(AN * AKV * AHD, 1),
                  .out = malloc(AN * AH * AHD * sizeof(float)),
                  .probs = malloc(AS * AH * AT * AT * sizeof(float)),
                  .r = randv(AN * AH * AHD, 1),
                  .s = {AS, AT, AH, AKV, AHD, 0}};
    float *dq = malloc(AN * AH * AHD * sizeof(float));
    float *dk = malloc(AN * AKV * AHD * sizeof(float)),
          *dv = malloc(AN * AKV * AHD * sizeof(float));
    float scratch[AT];
    attn_loss(&c);
    /* causal: row t of every probability matrix is zero past t and sums to 1 */
    double row = 0;
    for (int u = 0; u < AT; u++)
        row += c.probs[2 * AT + u];
    CHECK_NEAR(row, 1.0, 1e-5);
    CHECK(c.probs[2 * AT + 3] == 0.0f && c.probs[2 * AT + 4] == 0.0f);
    mb_attention_backward(NULL, &c.s, dq, dk, dv, c.r, c.probs, c.q, c.k, c.v, scratch);
    check_grad("attention dq", attn_loss, &c, c.q, dq, AN * AH * AHD);
    check_grad("attention dk", attn_loss, &c, c.k, dk, AN * AKV * AHD);
    check_grad("attention dv", attn_loss, &c, c.v, dv, AN * AKV * AHD);
    free(c.q), free(c.k), free(c.v), free(c.out), free(c.probs), free(c.r);
    free(dq), free(dk), free(dv);
}

/* ---- swiglu ---- */
typedef struct {
    float *g, *u, *h, *r;
} glu_ctx;

static double glu_loss(void *p) {
    glu_ctx *c = p;
    mb_swiglu_forward(c->h, c->g, c->u, 16);
    return proj(c->h, c->r, 16);
}

static void test_swiglu(void) {
    glu_ctx c = {
        .g = randv(16, 3), .u = randv(16, 2), .h = malloc(16 * sizeof(float)), .r = randv(16, 1)};
    float dg[16], du[16];
    mb_swiglu_backward(dg, du, c.r, c.g, c.u, 16);
    check_grad("swiglu dg", glu_loss, &c, c.g, dg, 16);
    check_grad("swiglu du", glu_loss, &c, c.u, du, 16);
    free(c.g), free(c.u), free(c.h), free(c.r);
}

/* ---- cross-entropy ---- */
typedef struct {
    float *z, *tmp, *row;
} xent_ctx;

static const int32_t xent_tgt[3] = {4, 0, 9};

static double xent_loss(void *p) {
    xent_ctx *c = p;
    return mb_loss_xent_eval(NULL, c->z, xent_tgt, 3, 10, c->row) / 3;
}

static void test_xent(void) {
    xent_ctx c = {
        .z = randv(30, 3), .tmp = malloc(30 * sizeof(float)), .row = malloc(3 * sizeof(float))};
    memcpy(c.tmp, c.z, 30 * sizeof(float));
    double l = mb_loss_xent(NULL, c.tmp, xent_tgt, 3, 10, 1.0f, c.row);
    CHECK_NEAR(l / 3, xent_loss(&c), 1e-9);
    check_grad("cross-entropy", xent_loss, &c, c.z, c.tmp, 30);
    /* softmax - onehot sums to zero over each row */
    double s = 0;
    for (int i = 0; i < 10; i++)
        s += c.tmp[i];
    CHECK_NEAR(s, 0.0, 1e-6);
    free(c.z), free(c.tmp), free(c.row);
}

/* ---- the whole model: every parameter of a tiny GQA model, untied and tied ---- */
typedef struct {
    mb_tmodel *m;
    int32_t tok[2 * 6], tgt[2 * 6];
    float row[12];
    int n_seq;
} model_ctx;

static double model_loss(void *p) {
    model_ctx *c = p;
    const mb_train_config *cfg = mb_tmodel_config(c->m);
    float *z = mb_tmodel_forward(c->m, NULL, c->tok, c->n_seq);
    return mb_loss_xent_eval(NULL, z, c->tgt, c->n_seq * cfg->ctx, cfg->vocab, c->row);
}

/* Two layers of width 8 with GQA, two sequences of 6 tokens, vocab 11. */
static void grad_config(mb_train_config *cfg, bool tied, uint64_t init_seed) {
    mb_train_config_default(cfg);
    cfg->dim = 8;
    cfg->n_layers = 2;
    cfg->n_heads = 2;
    cfg->n_kv_heads = 1;
    cfg->ffn = 12;
    cfg->ctx = 6;
    cfg->vocab = 11;
    cfg->batch = 2;
    cfg->tied = tied;
    cfg->init_std = 0.5f; /* large enough weights that every gradient is well above noise */
    cfg->seed = init_seed;
}

static void test_model(bool tied) {
    mb_train_config cfg;
    grad_config(&cfg, tied, 7);
    model_ctx c = {.n_seq = 2};
    CHECK_OK(mb_tmodel_new(&cfg, &c.m));
    if (!c.m) return;
    for (int i = 0; i < 12; i++) {
        c.tok[i] = (int32_t)(mbt_rand_u64(&seed) % 11);
        c.tgt[i] = (int32_t)(mbt_rand_u64(&seed) % 11);
    }
    /* norms away from 1 so their gradients are generic */
    float *p = mb_tmodel_params(c.m);
    for (int t = 0; t < mb_tmodel_n_tensors(c.m); t++) {
        const mb_tparam *tp = mb_tmodel_tensor(c.m, t);
        if (!tp->decay)
            for (size_t i = 0; i < tp->n; i++)
                p[tp->offset + i] = 1.0f + 0.5f * mbt_rand_float(&seed);
    }
    mb_tmodel_zero_grads(c.m);
    float *z = mb_tmodel_forward(c.m, NULL, c.tok, c.n_seq);
    mb_loss_xent(NULL, z, c.tgt, 12, 11, 12.0f, c.row); /* summed loss: scale n cancels 1/n */
    mb_tmodel_backward(c.m, NULL, c.tok, c.n_seq);
    size_t n = mb_tmodel_n_params(c.m);
    float *g = malloc(n * sizeof *g);
    memcpy(g, mb_tmodel_grads(c.m), n * sizeof *g);
    for (int t = 0; t < mb_tmodel_n_tensors(c.m); t++) {
        const mb_tparam *tp = mb_tmodel_tensor(c.m, t);
        char what[96];
        snprintf(what, sizeof what, "model (%s) %s", tied ? "tied" : "untied", tp->name);
        /* The whole float32 forward leaves more rounding noise in L than one
         * op does: the five-point stencil (truncation O(eps^4)) allows a
         * step of 7e-3 on weights of scale 0.5, sevenfold less noise. */
        check_grad_eps(what, model_loss, &c, p + tp->offset, g + tp->offset, tp->n, 7e-3f, 1);
    }
    free(g);
    mb_tmodel_free(c.m);
}

/* LoRA on every projection of a frozen model: the adapters' A and B
 * against finite differences (B random, not zero, so that A has a
 * gradient too), and the frozen base gets no matrix gradient. */
static void test_lora(void) {
    mb_train_config cfg;
    grad_config(&cfg, false, 9);
    model_ctx c = {.n_seq = 2};
    mb_tlora *lora = NULL;
    CHECK_OK(mb_tmodel_new(&cfg, &c.m));
    CHECK_OK(mb_tlora_new(&cfg, 3, 6.0f, (1u << MB_LORA_N_TARGETS) - 1, 5, &lora));
    if (!c.m || !lora) return;
    for (int i = 0; i < 12; i++) {
        c.tok[i] = (int32_t)(mbt_rand_u64(&seed) % 11);
        c.tgt[i] = (int32_t)(mbt_rand_u64(&seed) % 11);
    }
    float *lp = mb_tlora_params(lora);
    for (size_t i = 0; i < mb_tlora_n_params(lora); i++)
        lp[i] = 0.5f * mbt_rand_float(&seed);
    mb_tmodel_freeze(c.m);
    mb_tmodel_set_lora(c.m, lora);
    mb_tmodel_zero_grads(c.m);
    mb_tlora_zero_grads(lora);
    float *z = mb_tmodel_forward(c.m, NULL, c.tok, c.n_seq);
    mb_loss_xent(NULL, z, c.tgt, 12, 11, 12.0f, c.row);
    mb_tmodel_backward(c.m, NULL, c.tok, c.n_seq);
    for (int layer = 0; layer < cfg.n_layers; layer++)
        for (int t = 0; t < MB_LORA_N_TARGETS; t++) {
            float *a = mb_tlora_a(lora, layer, (mb_lora_target)t);
            float *b = mb_tlora_b(lora, layer, (mb_lora_target)t);
            size_t na = (size_t)(b - a), nb = 0;
            /* B follows A in the flat buffer; its size is out x r. */
            nb = (t == MB_LORA_GATE || t == MB_LORA_UP) ? 12 * 3
                 : (t == MB_LORA_K || t == MB_LORA_V)   ? 4 * 3
                                                        : 8 * 3;
            const float *g = mb_tlora_grads(lora);
            char what[96];
            snprintf(what, sizeof what, "lora blk.%d.%s A", layer, mb_lora_target_tensor(t));
            check_grad_eps(what, model_loss, &c, a, g + (a - lp), na, 7e-3f, 1);
            snprintf(what, sizeof what, "lora blk.%d.%s B", layer, mb_lora_target_tensor(t));
            check_grad_eps(what, model_loss, &c, b, g + (b - lp), nb, 7e-3f, 1);
        }
    /* Frozen: no matrix gradient was summed (the buffer is still zero). */
    double ss = 0;
    for (int t = 0; t < mb_tmodel_n_tensors(c.m); t++) {
        const mb_tparam *tp = mb_tmodel_tensor(c.m, t);
        for (size_t i = 0; tp->decay && i < tp->n; i++)
            ss += fabs(mb_tmodel_grads(c.m)[tp->offset + i]);
    }
    CHECK_MSG(ss == 0, "frozen base has matrix gradients (sum %g)", ss);
    mb_tlora_free(lora);
    mb_tmodel_free(c.m);
}

int main(void) {
    test_linear();
    test_embedding();
    test_rmsnorm();
    test_rope();
    test_attention();
    test_swiglu();
    test_xent();
    test_model(false);
    test_model(true);
    test_lora();
    return mbt_finish();
}
