/* LoRA end to end on a tiny trained model: fine-tuning lowers the held-out
 * loss on a new text, the adapter file applies at run time, a zero-B adapter
 * leaves the logits alone, run-time adapters equal the merged model's
 * weights, and mismatched adapters are refused with a message. (The
 * gradients of the adapter path are checked in test_train_grad.c.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/lora.h"
#include "test_util.h"
#include "train/bpe_train.h"
#include "train/lora.h"

static char dir[512], tok_path[600], base_path[600], domain_path[600];

static void write_lines(const char *path, const char *const *lines, int n, int reps) {
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < reps; i++)
        fputs(lines[i % n], f);
    if (f) fclose(f);
}

static void tiny_config(mb_train_config *c, int dim) {
    mb_train_config_default(c);
    snprintf(c->tokenizer, sizeof c->tokenizer, "%s", tok_path);
    c->dim = dim;
    c->n_layers = 2;
    c->n_heads = 4;
    c->n_kv_heads = 2;
    c->ffn = 64;
    c->ctx = 16;
    c->batch = 4;
    c->lr = 1e-2f;
    c->min_lr = 1e-3f;
    c->warmup = 5;
    c->steps = 40;
    c->eval_every = 0;
    c->seed = 3;
    c->vocab = 300;
}

/* A base model trained on one text; the domain text shares its words but
 * not its sentences. */
static void make_base(void) {
    static const char *base_lines[] = {"the cat sat on the mat.\n", "a dog ran in the park.\n",
                                       "we like to read books.\n", "she sings a happy song.\n"};
    static const char *domain_lines[] = {"the dog sat in the books.\n", "she ran on a song.\n",
                                         "we read the happy mat.\n"};
    char corpus[600];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    write_lines(corpus, base_lines, 4, 200);
    snprintf(domain_path, sizeof domain_path, "%s/domain.txt", dir);
    write_lines(domain_path, domain_lines, 3, 150);
    size_t len = 0;
    char *text = mbt_read_file(corpus, &len);
    snprintf(tok_path, sizeof tok_path, "%s/tok.gguf", dir);
    CHECK_OK(mb_bpe_train_file(text, len, 300, "gpt-2", tok_path, NULL));
    free(text);
    mb_train_config c;
    tiny_config(&c, 32);
    snprintf(base_path, sizeof base_path, "%s/base.gguf", dir);
    mb_train_params r = {
        .corpus_path = corpus, .out_path = base_path, .n_threads = 2, .val_split = 0.1f};
    CHECK_OK(mb_train(&c, &r, NULL));
}

/* Logits of every position of a fixed window, from the engine. */
static float *engine_logits(const char *model_path, const char *lora, float scale, int *n_vocab) {
    mb_model_params mp = mb_model_default_params();
    mb_model *m = NULL;
    mb_session *s = NULL;
    float *out = NULL;
    CHECK_OK(mb_model_load(model_path, &mp, &m));
    if (!m) return NULL;
    if (lora) CHECK_OK(mb_model_load_lora(m, lora, scale));
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 16;
    sp.n_threads = 2;
    CHECK_OK(mb_session_new(m, &sp, &s));
    *n_vocab = mb_model_n_vocab(m);
    int32_t tok[16];
    for (int i = 0; i < 16; i++)
        tok[i] = (int32_t)((i * 37 + 11) % *n_vocab);
    out = malloc((size_t)16 * *n_vocab * sizeof *out);
    if (s && out) CHECK_OK(mb_session_eval_all(s, tok, 16, out));
    mb_session_free(s);
    mb_model_free(m);
    return out;
}

/* Largest |x - y| over the largest |y| (at least 1). */
static double rel_diff(const float *x, const float *y, size_t n) {
    double worst = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(x[i] - y[i]));
        scale = fmax(scale, fabs(y[i]));
    }
    return worst / scale;
}

static void test_finetune_and_apply(void) {
    mb_train_config c;
    tiny_config(&c, 32);
    c.steps = 60;
    c.lr = 5e-3f;
    c.min_lr = 5e-4f;
    c.weight_decay = 0;
    char adapter[600], merged[600], merged0[600];
    snprintf(adapter, sizeof adapter, "%s/adapter.gguf", dir);
    snprintf(merged, sizeof merged, "%s/merged.gguf", dir);
    snprintf(merged0, sizeof merged0, "%s/merged0.gguf", dir);
    mb_finetune_params fp = mb_finetune_default_params();
    fp.model_path = base_path;
    fp.corpus_path = domain_path;
    fp.out_path = adapter;
    fp.rank = 4;
    fp.alpha = 8;
    fp.n_threads = 2;
    fp.val_split = 0.2f;
    fp.targets = "all";
    mb_finetune_result r;
    CHECK_OK(mb_finetune(&c, &fp, &r));
    /* The domain's sentences are new to the base: the adapters learn them. */
    CHECK_MSG(r.val_before > 0 && r.val_after < r.val_before - 0.5, "held-out loss %.3f -> %.3f",
              r.val_before, r.val_after);
    /* rank 4 on 7 projections of 2 layers: r (in + out) each. */
    size_t want = 2 * 4 * ((32 + 32) + 2 * (32 + 16) + (32 + 32) + 3 * (32 + 64));
    CHECK_EQ_INT((int)r.n_adapter_params, (int)want);
    /* A rank of 0 and an unknown projection are refused before any work. */
    fp.rank = 0;
    CHECK(mb_finetune(&c, &fp, &r) == MB_ERR_INVALID_ARG);
    fp.rank = 4;
    fp.targets = "q,x";
    CHECK(mb_finetune(&c, &fp, &r) == MB_ERR_INVALID_ARG);
    fp.targets = "all";

    int V = 0;
    size_t n = 0;
    float *base = engine_logits(base_path, NULL, 1, &V);
    float *with = engine_logits(base_path, adapter, 1, &V);
    n = (size_t)16 * V;
    int merged_n = 0, to_f16 = 0;
    CHECK_OK(mb_lora_merge(base_path, adapter, 1.0f, merged, &merged_n, &to_f16));
    CHECK_EQ_INT(merged_n, 14);
    CHECK_EQ_INT(to_f16, 0);
    float *merge = engine_logits(merged, NULL, 1, &V);
    CHECK_OK(mb_lora_merge(base_path, adapter, 0.0f, merged0, &merged_n, &to_f16));
    float *merge0 = engine_logits(merged0, NULL, 1, &V);
    float *scale0 = engine_logits(base_path, adapter, 0, &V);
    if (base && with && merge && merge0 && scale0) {
        /* The adapter changes the model... */
        CHECK_MSG(rel_diff(with, base, n) > 1e-2, "adapter changed logits by %g only",
                  rel_diff(with, base, n));
        /* ...and the run-time path equals merged weights (float rounding of
         * W + s B A against W x + s B (A x)). */
        CHECK_MSG(rel_diff(with, merge, n) < 1e-4, "run --lora vs merged: %g",
                  rel_diff(with, merge, n));
        CHECK_MSG(rel_diff(merge0, base, n) == 0, "merge at scale 0 changed logits by %g",
                  rel_diff(merge0, base, n));
        CHECK_MSG(rel_diff(scale0, base, n) == 0, "--lora-scale 0 changed logits by %g",
                  rel_diff(scale0, base, n));
    }
    free(base);
    free(with);
    free(merge);
    free(merge0);
    free(scale0);
}

/* B = 0 at initialization: the adapter file leaves every logit as it was. */
static void test_zero_b(void) {
    mb_train_config c;
    tiny_config(&c, 32);
    mb_tlora *l = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/zero.gguf", dir);
    CHECK_OK(mb_tlora_new(&c, 2, 4, (1u << MB_LORA_N_TARGETS) - 1, 1, &l));
    if (!l) return;
    CHECK_OK(mb_tlora_save(l, path));
    mb_tlora_free(l);
    int V = 0;
    float *base = engine_logits(base_path, NULL, 1, &V);
    float *with = engine_logits(base_path, path, 1, &V);
    if (base && with)
        CHECK_MSG(rel_diff(with, base, (size_t)16 * V) == 0, "zero-B adapter changed logits by %g",
                  rel_diff(with, base, (size_t)16 * V));
    free(base);
    free(with);
}

/* The file's orientation and scale: the engine with a saved adapter (B
 * random) computes the trainer's logits with the same adapter attached. */
static void test_trainer_matches_engine(void) {
    mb_train_config c;
    tiny_config(&c, 32);
    c.batch = 1;
    mb_tmodel *tm = NULL;
    mb_tlora *l = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/random-b.gguf", dir);
    CHECK_OK(mb_train_config_from_model(base_path, &c));
    CHECK_OK(mb_tmodel_new(&c, &tm));
    CHECK_OK(mb_tlora_new(&c, 3, 5, (1u << MB_LORA_N_TARGETS) - 1, 2, &l));
    if (!tm || !l) goto done;
    CHECK_OK(mb_tmodel_load_weights(tm, base_path));
    uint64_t rng = 99;
    /* A and B random (B is zero after mb_tlora_new). */
    float *p = mb_tlora_params(l);
    for (size_t i = 0; i < mb_tlora_n_params(l); i++)
        p[i] = 0.3f * mbt_rand_float(&rng);
    CHECK_OK(mb_tlora_save(l, path));
    mb_tmodel_set_lora(tm, l);
    mb_tmodel_set_f16_attention(tm, true); /* as the engine's F16 KV cache */
    int V = 0;
    float *engine = engine_logits(base_path, path, 1, &V);
    float *plain = engine_logits(base_path, NULL, 1, &V);
    int32_t tok[16];
    for (int i = 0; i < 16; i++)
        tok[i] = (int32_t)((i * 37 + 11) % V);
    const float *mine = mb_tmodel_forward(tm, NULL, tok, 1);
    if (engine && plain) {
        size_t n = (size_t)16 * V;
        CHECK_MSG(rel_diff(engine, plain, n) > 1e-2, "random adapter changed logits by %g only",
                  rel_diff(engine, plain, n));
        CHECK_MSG(rel_diff(engine, mine, n) < 1e-4, "engine vs trainer with the adapter: %g",
                  rel_diff(engine, mine, n));
    }
    free(engine);
    free(plain);
done:
    mb_tlora_free(l);
    mb_tmodel_free(tm);
}

static void expect_refused(const char *model_path, const char *adapter, const char *needle) {
    mb_model_params mp = mb_model_default_params();
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(model_path, &mp, &m));
    if (!m) return;
    mb_status st = mb_model_load_lora(m, adapter, 1);
    CHECK_MSG(st != MB_OK && strstr(mb_last_error(), needle), "want '%s', got %d '%s'", needle,
              (int)st, mb_last_error());
    mb_model_free(m);
}

/* An adapter for another shape, a model file as adapter, a name the base
 * lacks: each refused, naming the problem. */
static void test_mismatch(void) {
    mb_train_config c;
    tiny_config(&c, 16);
    mb_tlora *l = NULL;
    char wide[600], ffn_only[600];
    snprintf(wide, sizeof wide, "%s/other-shape.gguf", dir);
    CHECK_OK(mb_tlora_new(&c, 2, 4, 1u << MB_LORA_Q, 1, &l));
    if (l) CHECK_OK(mb_tlora_save(l, wide));
    mb_tlora_free(l);
    expect_refused(base_path, wide, "wrong base");
    expect_refused(base_path, base_path, "not a LoRA adapter");
    /* A three-layer adapter on a two-layer model: blk.2 does not exist. */
    tiny_config(&c, 32);
    c.n_layers = 3;
    snprintf(ffn_only, sizeof ffn_only, "%s/three-layers.gguf", dir);
    CHECK_OK(mb_tlora_new(&c, 2, 4, 1u << MB_LORA_DOWN, 1, &l));
    if (l) CHECK_OK(mb_tlora_save(l, ffn_only));
    mb_tlora_free(l);
    expect_refused(base_path, ffn_only, "does not exist in the base model");
}

int main(void) {
    snprintf(dir, sizeof dir, "%s", mbt_tmpdir());
    make_base();
    test_finetune_and_apply();
    test_zero_b();
    test_trainer_matches_engine();
    test_mismatch();
    return mbt_finish();
}
