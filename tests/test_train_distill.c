/* Distillation: the loss head's gradient against finite differences (full
 * teacher and top-k), its limits (alpha 0 is cross-entropy, a student equal
 * to its teacher has no KL), top-k with k = vocab equal to the full head, and
 * mb_distill end to end: a student sliced from its teacher starts with the
 * teacher's weights (evenly spaced layers), and distillation lowers the
 * student's loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "test_util.h"
#include "train_fixture.h"
#include "train/bpe_train.h"
#include "matchbox/train.h"
#include "train/ops.h"
#include "train/rng.h"

enum { N = 3, V = 11, K = 4 };

static void fill(float *x, int n, uint64_t *rng, float scale) {
    for (int i = 0; i < n; i++)
        x[i] = scale * mb_rng_normal(rng);
}

/* The teacher's top K of each row, descending. */
static void topk_rows(const float *t, float temp, int32_t *ids, float *vals, float *lse) {
    for (int r = 0; r < N; r++) {
        double sum = 0;
        for (int i = 0; i < V; i++)
            sum += exp(t[r * V + i] / temp);
        lse[r] = (float)log(sum);
        int used[V] = {0};
        for (int j = 0; j < K; j++) {
            int best = -1;
            for (int i = 0; i < V; i++)
                if (!used[i] && (best < 0 || t[r * V + i] > t[r * V + best])) best = i;
            used[best] = 1;
            ids[r * K + j] = best;
            vals[r * K + j] = t[r * V + best];
        }
    }
}

static double head(const float *z, const int32_t *y, const mb_teacher_view *v, float *grad) {
    float buf[N * V], rl[N];
    memcpy(buf, z, sizeof buf);
    double l = mb_loss_distill(NULL, buf, y, N, V, v, 1.0f, rl);
    if (grad) memcpy(grad, buf, sizeof buf);
    return l;
}

static void check_grad(const mb_teacher_view *v, const char *what) {
    uint64_t rng = 7;
    float z[N * V], g[N * V];
    fill(z, N * V, &rng, 2.0f);
    const int32_t y[N] = {1, 5, 10};
    head(z, y, v, g);
    double worst = 0;
    for (int i = 0; i < N * V; i++) {
        /* Five-point stencil with a wide step: the losses are summed in
         * float, whose rounding (~1e-7 of the loss) divided by a small step
         * would dominate; the stencil's O(eps^4) error stays below it. */
        const float eps = 5e-2f;
        double f[4];
        const float step[4] = {-2 * eps, -eps, eps, 2 * eps};
        for (int s = 0; s < 4; s++) {
            float zs[N * V];
            memcpy(zs, z, sizeof z);
            zs[i] += step[s];
            f[s] = head(zs, y, v, NULL);
        }
        /* The head's gradient is of the mean loss over the N rows. */
        double num = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12.0 * eps) / N;
        double err = fabs(num - g[i]) / fmax(fmax(fabs(num), fabs(g[i])), 1e-3);
        worst = fmax(worst, err);
    }
    CHECK_MSG(worst <= 1e-3, "%s: gradient rel. error %.2e", what, worst);
}

static void test_head(void) {
    uint64_t rng = 11;
    float t[N * V], tv[N * K], tlse[N], tlse2[N];
    int32_t ti[N * K];
    fill(t, N * V, &rng, 2.0f);
    topk_rows(t, 1.5f, ti, tv, tlse);
    mb_teacher_view full = {.logits = t, .temperature = 2.0f, .alpha = 0.7f};
    mb_teacher_view top = {.topk_ids = ti,
                           .topk_logits = tv,
                           .topk_lse = tlse,
                           .k = K,
                           .temperature = 1.5f,
                           .alpha = 0.6f};
    check_grad(&full, "full teacher");
    check_grad(&top, "top-k teacher");

    /* alpha 0: exactly the cross-entropy head. */
    float z[N * V], a[N * V], b[N * V], rl[N];
    fill(z, N * V, &rng, 1.5f);
    const int32_t y[N] = {0, 3, 7};
    mb_teacher_view ce_only = full;
    ce_only.alpha = 0;
    double l1 = head(z, y, &ce_only, a);
    memcpy(b, z, sizeof z);
    double l2 = mb_loss_xent(NULL, b, y, N, V, 1.0f, rl);
    CHECK_NEAR(l1, l2, 1e-5);
    for (int i = 0; i < N * V; i++)
        CHECK_NEAR(a[i], b[i], 1e-6);

    /* A student equal to its teacher: no KL, no KL gradient. */
    mb_teacher_view self = {.logits = z, .temperature = 3.0f, .alpha = 1.0f};
    CHECK_NEAR(head(z, y, &self, a), 0.0, 1e-5);
    for (int i = 0; i < N * V; i++)
        CHECK_NEAR(a[i], 0.0, 1e-6);

    /* Top-k with k = vocab is the full head. */
    float allv[N * V];
    int32_t alli[N * V];
    for (int r = 0; r < N; r++)
        for (int i = 0; i < V; i++) {
            alli[r * V + i] = i;
            allv[r * V + i] = t[r * V + i];
        }
    topk_rows(t, 2.0f, ti, tv, tlse2);
    mb_teacher_view all = {.topk_ids = alli,
                           .topk_logits = allv,
                           .topk_lse = tlse2,
                           .k = V,
                           .temperature = 2.0f,
                           .alpha = 0.7f};
    CHECK_NEAR(head(z, y, &full, a), head(z, y, &all, b), 1e-4);
    for (int i = 0; i < N * V; i++)
        CHECK_NEAR(a[i], b[i], 1e-6);

    /* Coarse-graining to the top K plus the rest never increases the KL
     * (alpha 1: the KL term alone), and keeps the tail's mass: a student
     * equal to its teacher has zero top-K loss and gradient too. */
    mb_teacher_view full1 = full, top1 = all;
    full1.alpha = top1.alpha = 1.0f;
    top1.k = K;
    top1.topk_ids = ti;
    top1.topk_logits = tv;
    double kl_full = head(z, y, &full1, NULL), kl_top = head(z, y, &top1, NULL);
    CHECK_MSG(kl_top <= kl_full + 1e-6 && kl_top > 0, "top-%d KL %g, full KL %g", K, kl_top,
              kl_full);
    CHECK_NEAR(head(t, y, &top1, a), 0.0, 1e-5);
    for (int i = 0; i < N * V; i++)
        CHECK_NEAR(a[i], 0.0, 1e-6);
}

/* ---- end to end on a tiny trained teacher ---------------------------- */

static char dir[512], tok_path[600], corpus_path[600], teacher_path[600];

static void write_corpus(void) {
    mbt_train_fixture(dir, corpus_path, sizeof corpus_path, tok_path, sizeof tok_path);
}

static void config(mb_train_config *c, int n_layers, int steps, float lr) {
    mb_train_config_default(c);
    snprintf(c->tokenizer, sizeof c->tokenizer, "%s", tok_path);
    c->dim = 32;
    c->n_layers = n_layers;
    c->n_heads = 4;
    c->n_kv_heads = 2;
    c->ffn = 64;
    c->ctx = 16;
    c->batch = 4;
    c->lr = lr;
    c->min_lr = lr / 10;
    c->warmup = 1;
    c->steps = steps;
    c->eval_every = steps;
    c->eval_batches = 2;
    c->weight_decay = 0;
    c->seed = 5;
}

static void run_init(mb_train_params *run, const char *out) {
    *run = mb_train_default_params();
    run->corpus_path = corpus_path;
    run->out_path = out;
    run->n_threads = 2;
    run->val_split = 0.1f;
}

/* Every student tensor equals the teacher's of the mapped layer. */
static void check_slice(const char *student, int n_s, int n_t) {
    mb_gguf *s = NULL, *t = NULL;
    CHECK_OK(mb_gguf_open(student, 0, 0, &s));
    CHECK_OK(mb_gguf_open(teacher_path, 0, 0, &t));
    if (!s || !t) return;
    int compared = 0;
    for (uint64_t i = 0; i < s->n_tensors; i++) {
        const mb_gguf_tensor *st = &s->tensors[i];
        if (!strncmp(st->name, "matchbox.", 9)) continue;
        char name[96];
        int il;
        const char *rest;
        if (sscanf(st->name, "blk.%d.", &il) == 1 && (rest = strchr(st->name + 4, '.')))
            snprintf(name, sizeof name, "blk.%d%s", il * n_t / n_s, rest);
        else
            snprintf(name, sizeof name, "%s", st->name);
        const mb_gguf_tensor *tt = mb_gguf_find_tensor(t, name);
        CHECK_MSG(tt && tt->nbytes == st->nbytes && !memcmp(tt->data, st->data, st->nbytes),
                  "%s differs from the teacher's %s", st->name, name);
        compared++;
    }
    CHECK(compared == 2 + 9 * n_s); /* embedding, output norm, 9 per layer (tied) */
    mb_gguf_close(s);
    mb_gguf_close(t);
}

static void test_end_to_end(void) {
    snprintf(dir, sizeof dir, "%s", mbt_tmpdir());
    write_corpus();
    snprintf(teacher_path, sizeof teacher_path, "%s/teacher.gguf", dir);
    mb_train_config c;
    mb_train_params run;
    mb_train_result res;
    config(&c, 4, 60, 1e-2f);
    run_init(&run, teacher_path);
    CHECK_OK(mb_train(&c, &run, &res));
    const double teacher_val = res.last_val_loss;

    /* A learning rate far below the weights' precision: the output is the
     * initialization, a slice of the teacher (layers 0 and 2 of 4). */
    char sliced[700];
    snprintf(sliced, sizeof sliced, "%s/sliced.gguf", dir);
    config(&c, 2, 1, 1e-30f);
    run_init(&run, sliced);
    mb_distill_params p = {
        .teacher_path = teacher_path, .temperature = 2, .alpha = 0.5f, .init_from_teacher = 1};
    CHECK_OK(mb_distill(&c, &run, &p, &res));
    check_slice(sliced, 2, 4);

    /* Distilling a 2-layer student, full teacher and top-k, lowers its loss
     * from the random start well below the uniform ln(300) = 5.7. */
    char student[700];
    snprintf(student, sizeof student, "%s/student.gguf", dir);
    for (int topk = 0; topk <= 8; topk += 8) {
        config(&c, 2, 40, 1e-2f);
        run_init(&run, student);
        p.init_from_teacher = 0;
        p.topk = topk;
        CHECK_OK(mb_distill(&c, &run, &p, &res));
        CHECK_MSG(res.last_val_loss < 2.5 && res.last_val_loss > 0,
                  "top-%d: student val loss %.3f (teacher %.3f)", topk, res.last_val_loss,
                  teacher_val);
    }

    /* A teacher with another vocabulary is refused, naming both sizes. */
    config(&c, 1, 1, 1e-3f);
    run_init(&run, student);
    char other[700];
    snprintf(other, sizeof other, "%s/other.gguf", dir);
    mbt_tiny_model tiny = {.n_embd = 32,
                           .n_layer = 1,
                           .n_head = 4,
                           .n_head_kv = 2,
                           .n_ff = 64,
                           .n_ctx = 64,
                           .seed = 1};
    CHECK_OK(mbt_write_tiny_model(other, &tiny));
    p.teacher_path = other;
    CHECK(mb_distill(&c, &run, &p, &res) == MB_ERR_INVALID_ARG);
    CHECK_MSG(strstr(mb_last_error(), "tokenizer") != NULL, "%s", mb_last_error());
}

int main(void) {
    test_head();
    test_end_to_end();
    return mbt_finish();
}
