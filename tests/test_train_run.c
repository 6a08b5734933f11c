/* The trainer as a whole: AdamW against a hand computation, the learning-rate
 * schedule, clipping, same seed -> same run (and the same for 1 and 2
 * threads), resume -> the same result as an uninterrupted run, a tiny model
 * overfitting a short text, and the saved GGUF giving, in the inference
 * engine, the logits of the trainer's own forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "test_util.h"
#include "train_fixture.h"
#include "train/bpe_train.h"
#include "train/ops.h"
#include "train/train.h"

static char dir[512], tok_path[600], corpus_path[600];

static void write_corpus(void) {
    mbt_train_fixture(dir, corpus_path, sizeof corpus_path, tok_path, sizeof tok_path);
}

static void tiny_config(mb_train_config *c) {
    mb_train_config_default(c);
    snprintf(c->tokenizer, sizeof c->tokenizer, "%s", tok_path);
    c->dim = 32;
    c->n_layers = 2;
    c->n_heads = 4;
    c->n_kv_heads = 2;
    c->ffn = 64;
    c->ctx = 16;
    c->batch = 4;
    c->grad_accum = 2;
    c->lr = 1e-2f;
    c->min_lr = 1e-3f;
    c->warmup = 5;
    c->steps = 12;
    c->eval_every = 6;
    c->eval_batches = 2;
    c->seed = 3;
    c->vocab = 300; /* the tokenizer's */
}

static mb_status train(const mb_train_config *c, const char *out, const char *resume,
                       const char *ckpt, int threads, mb_train_result *res) {
    mb_train_params run = mb_train_default_params();
    run.corpus_path = corpus_path;
    run.out_path = out;
    run.resume_path = resume;
    run.ckpt_path = ckpt;
    run.n_threads = threads;
    run.val_split = 0.1f;
    return mb_train(c, &run, res);
}

static int same_file(const char *a, const char *b) {
    size_t la = 0, lb = 0;
    char *x = mbt_read_file(a, &la), *y = mbt_read_file(b, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

static void test_schedule(void) {
    mb_train_config c;
    mb_train_config_default(&c);
    c.lr = 1.0f;
    c.min_lr = 0.1f;
    c.warmup = 10;
    c.steps = 110;
    CHECK_NEAR(mb_train_lr(&c, 0), 0.1, 1e-6);   /* (0+1)/10 */
    CHECK_NEAR(mb_train_lr(&c, 9), 1.0, 1e-6);   /* end of warmup */
    CHECK_NEAR(mb_train_lr(&c, 10), 1.0, 1e-6);  /* cosine starts at the peak */
    CHECK_NEAR(mb_train_lr(&c, 60), 0.55, 1e-6); /* halfway: (1 + 0.1) / 2 */
    CHECK_NEAR(mb_train_lr(&c, 110), 0.1, 1e-6); /* the end: min_lr */
    CHECK(mb_train_lr(&c, 30) > mb_train_lr(&c, 31));
}

static void test_clip(void) {
    float g[2] = {3, 4};
    CHECK_NEAR(mb_train_clip(g, 2, 1.0f), 5.0, 1e-9);
    CHECK_NEAR(g[0], 0.6, 1e-6);
    CHECK_NEAR(g[1], 0.8, 1e-6);
    float h[2] = {0.3f, 0.4f};
    CHECK_NEAR(mb_train_clip(h, 2, 1.0f), 0.5, 1e-6); /* below the limit: untouched */
    CHECK(h[0] == 0.3f && h[1] == 0.4f);
}

/* Two AdamW steps on every parameter against the formula in double. */
static void test_adamw(void) {
    mb_train_config c;
    mb_train_config_default(&c);
    c.dim = 8;
    c.n_layers = 1;
    c.n_heads = 2;
    c.n_kv_heads = 2;
    c.ffn = 8;
    c.ctx = 4;
    c.vocab = 5;
    c.batch = 1;
    c.weight_decay = 0.5f;
    mb_tmodel *m = NULL;
    CHECK_OK(mb_tmodel_new(&c, &m));
    if (!m) return;
    size_t n = mb_tmodel_n_params(m);
    float *p = mb_tmodel_params(m), *g = mb_tmodel_grads(m);
    double *ep = malloc(n * sizeof *ep), *em = calloc(n, sizeof *em), *ev = calloc(n, sizeof *ev);
    uint64_t s = 9;
    for (size_t i = 0; i < n; i++)
        ep[i] = p[i];
    for (int step = 1; step <= 2; step++) {
        double lr = step == 1 ? 0.01 : 0.005;
        for (int t = 0; t < mb_tmodel_n_tensors(m); t++) {
            const mb_tparam *tp = mb_tmodel_tensor(m, t);
            double wd = strstr(tp->name, "norm") ? 0.0 : 0.5;
            for (size_t i = tp->offset; i < tp->offset + tp->n; i++) {
                g[i] = mbt_rand_float(&s);
                em[i] = 0.9 * em[i] + 0.1 * g[i];
                ev[i] = 0.95 * ev[i] + 0.05 * (double)g[i] * g[i];
                double mh = em[i] / (1 - pow(0.9, step)), vh = ev[i] / (1 - pow(0.95, step));
                ep[i] -= lr * (mh / (sqrt(vh) + 1e-8) + wd * ep[i]);
            }
        }
        mb_train_adamw(m, (float)lr, step);
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(p[i] - ep[i]));
    CHECK_MSG(worst < 1e-6, "AdamW differs from the formula by %g", worst);
    free(ep), free(em), free(ev);
    mb_tmodel_free(m);
}

static void test_determinism_and_resume(void) {
    mb_train_config c;
    tiny_config(&c);
    char a[600], b[600], t1[600], part[600], ckpt[600], resumed[600];
    snprintf(a, sizeof a, "%s/a.gguf", dir);
    snprintf(b, sizeof b, "%s/b.gguf", dir);
    snprintf(t1, sizeof t1, "%s/t1.gguf", dir);
    snprintf(part, sizeof part, "%s/part.gguf", dir);
    snprintf(ckpt, sizeof ckpt, "%s/part.ckpt.gguf", dir);
    snprintf(resumed, sizeof resumed, "%s/resumed.gguf", dir);
    mb_train_result ra, rb, r1, rp, rr;
    CHECK_OK(train(&c, a, NULL, NULL, 2, &ra));
    CHECK_OK(train(&c, b, NULL, NULL, 2, &rb));
    CHECK_MSG(same_file(a, b), "two runs with the same seed differ");
    CHECK(ra.last_loss == rb.last_loss && ra.last_val_loss == rb.last_val_loss);
    CHECK(ra.last_val_loss > 0 && ra.last_loss < ra.first_loss);
    /* Reductions happen in a fixed order, so one thread gives the same bits. */
    CHECK_OK(train(&c, t1, NULL, NULL, 1, &r1));
    CHECK_MSG(same_file(a, t1), "1 and 2 threads differ");
    /* A different seed gives a different run. */
    mb_train_config c2 = c;
    c2.seed = 4;
    CHECK_OK(train(&c2, b, NULL, NULL, 2, &rb));
    CHECK(!same_file(a, b));
    /* The run checkpoints at step 7 (of 12: same schedule); resumed from
     * there, the final file is byte-identical to the uninterrupted run's. */
    mb_train_config cp = c;
    cp.ckpt_every = 7;
    CHECK_OK(train(&cp, part, NULL, ckpt, 2, &rp));
    CHECK_MSG(same_file(a, part), "checkpointing changed the run");
    CHECK_OK(train(&c, resumed, ckpt, NULL, 2, &rr));
    CHECK_MSG(same_file(a, resumed), "resumed run differs from the uninterrupted one");
    CHECK(rr.last_loss == ra.last_loss && rr.last_val_loss == ra.last_val_loss);
    /* --stop-at 7 writes what the step-7 checkpoint holds, and resuming it
     * finishes the same run. */
    mb_train_params pp = mb_train_default_params();
    pp.corpus_path = corpus_path;
    pp.out_path = part;
    pp.n_threads = 2;
    pp.val_split = 0.1f;
    pp.stop_at = 7;
    CHECK_OK(mb_train(&c, &pp, &rp));
    CHECK_MSG(same_file(part, ckpt), "--stop-at 7 differs from the step-7 checkpoint");
    CHECK_OK(train(&c, resumed, part, NULL, 2, &rr));
    CHECK_MSG(same_file(a, resumed), "run resumed after --stop-at differs");
    /* A checkpoint of another shape is refused with a message. */
    mb_train_config other = c;
    other.dim = 16;
    mb_status st = train(&other, b, ckpt, NULL, 2, &rb);
    CHECK(st == MB_ERR_FORMAT && strstr(mb_last_error(), "parameters"));
}

static void test_overfit_and_engine(void) {
    mb_train_config c;
    tiny_config(&c);
    c.steps = 150;
    c.warmup = 10;
    c.grad_accum = 1;
    c.eval_every = 0;
    char out[600];
    snprintf(out, sizeof out, "%s/overfit.gguf", dir);
    mb_train_result r;
    CHECK_OK(train(&c, out, NULL, NULL, 2, &r));
    /* ln(300) = 5.7 at the start; the four sentences repeat, so only the
     * first word of each is uncertain. */
    CHECK_MSG(r.first_loss > 5.0 && r.last_loss < 0.6, "loss %.3f -> %.3f", r.first_loss,
              r.last_loss);

    /* The engine's logits on the first window equal the trainer's forward. */
    mb_model_params mp = mb_model_default_params();
    mb_model *model = NULL;
    CHECK_OK(mb_model_load(out, &mp, &model));
    if (!model) return;
    mb_train_config rc = c;
    mb_tmodel *tm = NULL;
    CHECK_OK(mb_tmodel_new(&rc, &tm));
    int step = 0;
    uint64_t rng = 0;
    CHECK_OK(mb_tmodel_resume(tm, out, &step, &rng));
    CHECK_EQ_INT(step, 150);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = c.ctx;
    sp.n_threads = 2;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(model, &sp, &s));
    int32_t tok[16];
    for (int i = 0; i < 16; i++)
        tok[i] = (int32_t)((i * 37 + 11) % c.vocab);
    int V = mb_model_n_vocab(model);
    CHECK_EQ_INT(V, c.vocab);
    float *engine = malloc((size_t)16 * V * sizeof(float));
    if (s) CHECK_OK(mb_session_eval_all(s, tok, 16, engine));
    mb_tmodel_set_f16_attention(tm, true); /* as the engine's F16 KV cache */
    const float *mine = mb_tmodel_forward(tm, NULL, tok, 1);
    /* Within 1e-4 of the largest logit: the sums run in different orders
     * (and with FMA or not), and a last-bit difference can move Q, K or V
     * across an F16 rounding step, which costs up to 2^-11 of that value. */
    double worst = 0, scale = 1;
    for (size_t i = 0; i < (size_t)16 * V; i++) {
        worst = fmax(worst, fabs(engine[i] - mine[i]));
        scale = fmax(scale, fabs(mine[i]));
    }
    CHECK_MSG(worst <= 1e-4 * scale, "engine and trainer logits differ by %g (largest %g)", worst,
              scale);
    free(engine);
    mb_session_free(s);
    mb_model_free(model);
    mb_tmodel_free(tm);
}

typedef struct {
    int n_progress, last_step, n_val;
    char log[4096];
} seen;

static void on_progress(const mb_train_progress *p, void *user) {
    seen *s = user;
    s->n_progress++;
    CHECK_MSG(p->step == s->last_step + 1, "step %d after %d", p->step, s->last_step);
    s->last_step = p->step;
    if (p->val_loss >= 0) s->n_val++;
    CHECK(p->loss > 0 && p->lr > 0 && p->eta_seconds >= 0);
}

static void on_log(const char *text, void *user) {
    seen *s = user;
    strncat(s->log, text, sizeof s->log - strlen(s->log) - 1);
}

/* The library prints nothing itself: every step reaches the progress
 * callback (with the held-out loss every eval_every steps and at the end),
 * and the messages the CLI shows reach the log callback. */
static void test_callbacks(void) {
    mb_train_config c;
    tiny_config(&c);
    c.steps = 6;
    c.eval_every = 3;
    char out[600];
    snprintf(out, sizeof out, "%s/cb.gguf", dir);
    seen s = {0};
    mb_train_params p = mb_train_default_params();
    p.corpus_path = corpus_path;
    p.out_path = out;
    p.n_threads = 0; /* the physical cores */
    p.val_split = 0.1f;
    p.progress = on_progress;
    p.log = on_log;
    p.user = &s;
    mb_train_result r;
    CHECK_OK(mb_train(&c, &p, &r));
    CHECK_EQ_INT(s.n_progress, 6);
    CHECK_EQ_INT(s.n_val, 2);
    CHECK_MSG(strstr(s.log, "corpus: ") && strstr(s.log, "memory: ") && strstr(s.log, "model: "),
              "log: %s", s.log);
    CHECK(r.last_val_loss > 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", mbt_tmpdir());
    write_corpus();
    test_schedule();
    test_clip();
    test_adamw();
    test_determinism_and_resume();
    test_overfit_and_engine();
    test_callbacks();
    return mbt_finish();
}
