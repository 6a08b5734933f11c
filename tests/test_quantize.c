/* matchbox quantize: encoder quality, preset type choices, fallbacks,
 * refusals, atomic output, and a round trip through every preset. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "quantize/quantize.h"
#include "tensor/types.h"
#include "test_util.h"
#include "util_kquant_simple.h"

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* RMSE of encoding X with ENC and decoding with TYPE's decoder. */
static double codec_rmse(uint32_t type, mb_from_float_fn enc, const float *x, int n) {
    uint64_t bytes = 0;
    mb_type_row_bytes(type, (uint64_t)n, &bytes);
    void *q = malloc(bytes);
    float *y = malloc((size_t)n * sizeof *y);
    enc(x, q, n);
    mb_type_get(type)->to_float(q, y, n);
    double s = 0;
    for (int i = 0; i < n; i++)
        s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    free(q);
    free(y);
    return sqrt(s / n);
}

/* The searched K-quant fits must beat the plain min/max fit on weights
 * shaped like a model's (Gaussian-ish, a few outliers). */
static void test_encoders_beat_simple_fit(void) {
    enum { N = 256 * 64 };
    float *x = malloc(N * sizeof *x);
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        float g = 0; /* sum of uniforms: roughly normal */
        for (int k = 0; k < 4; k++)
            g += mbt_rand_float(&rng);
        x[i] = 0.02f * g * (i % 97 == 0 ? 6.0f : 1.0f);
    }
    const struct {
        uint32_t type;
        mb_from_float_fn simple;
    } cases[] = {{MB_TYPE_Q2_K, mbt_q2_k_simple},
                 {MB_TYPE_Q3_K, mbt_q3_k_simple},
                 {MB_TYPE_Q4_K, mbt_q4_k_simple},
                 {MB_TYPE_Q5_K, mbt_q5_k_simple},
                 {MB_TYPE_Q6_K, mbt_q6_k_simple}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const double searched =
            codec_rmse(cases[c].type, mb_type_get(cases[c].type)->from_float, x, N);
        const double simple = codec_rmse(cases[c].type, cases[c].simple, x, N);
        CHECK_MSG(searched < simple, "%s: searched RMSE %g not below simple %g",
                  mb_type_name(cases[c].type), searched, simple);
    }
    free(x);
}

/* Choose types for an 8-layer model's tensors in file order. */
typedef struct {
    uint32_t attn_v[8], ffn_down[8], attn_q, attn_output, token_embd, output, norm;
} choices;

static void choose_all(const char *preset, int n_gqa, int has_output, choices *c) {
    const mb_quant_preset *p = mb_quant_preset_find(preset);
    mb_quant_rules r = {.n_layer = 8, .n_gqa = n_gqa, .has_output = has_output, .n_attn_v = 8};
    const uint64_t ne[2] = {256, 256}, emb[2] = {256, 1000};
    mb_quant_choice ch;
    CHECK_OK(mb_quant_choose(p, &r, "token_embd.weight", 2, emb, MB_TYPE_F16, &ch));
    c->token_embd = ch.type;
    for (int l = 0; l < 8; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        CHECK_OK(mb_quant_choose(p, &r, name, 1, ne, MB_TYPE_F32, &ch));
        c->norm = ch.quantize ? ch.type : MB_TYPE_F32;
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l);
        CHECK_OK(mb_quant_choose(p, &r, name, 2, ne, MB_TYPE_F16, &ch));
        c->attn_q = ch.type;
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        CHECK_OK(mb_quant_choose(p, &r, name, 2, ne, MB_TYPE_F16, &ch));
        c->attn_v[l] = ch.type;
        snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
        CHECK_OK(mb_quant_choose(p, &r, name, 2, ne, MB_TYPE_F16, &ch));
        c->attn_output = ch.type;
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        CHECK_OK(mb_quant_choose(p, &r, name, 2, ne, MB_TYPE_F16, &ch));
        c->ffn_down[l] = ch.type;
    }
    if (has_output) {
        CHECK_OK(mb_quant_choose(p, &r, "output.weight", 2, emb, MB_TYPE_F16, &ch));
        c->output = ch.type;
    }
}

static void test_preset_rules(void) {
    choices c;
    /* Q4_K_M: Q6_K for output and for the "use more bits" layers of 8
     * (first and last eighth, and every third from the second: 0, 3, 6, 7). */
    choose_all("Q4_K_M", 1, 1, &c);
    CHECK_EQ_INT(c.output, MB_TYPE_Q6_K);
    CHECK_EQ_INT(c.token_embd, MB_TYPE_Q4_K);
    CHECK_EQ_INT(c.attn_q, MB_TYPE_Q4_K);
    CHECK_EQ_INT(c.norm, MB_TYPE_F32);
    const int more[8] = {1, 0, 0, 1, 0, 0, 1, 1};
    for (int l = 0; l < 8; l++) {
        CHECK_EQ_INT(c.attn_v[l], more[l] ? MB_TYPE_Q6_K : MB_TYPE_Q4_K);
        CHECK_EQ_INT(c.ffn_down[l], more[l] ? MB_TYPE_Q6_K : MB_TYPE_Q4_K);
    }
    /* Q3_K_M: attn_v Q5_K for the first two, attn_output Q4_K. */
    choose_all("Q3_K_M", 1, 1, &c);
    CHECK_EQ_INT(c.attn_v[1], MB_TYPE_Q5_K);
    CHECK_EQ_INT(c.attn_v[2], MB_TYPE_Q4_K);
    CHECK_EQ_INT(c.attn_output, MB_TYPE_Q4_K);
    CHECK_EQ_INT(c.attn_q, MB_TYPE_Q3_K);
    /* Q2_K: attn_v Q4_K with GQA >= 4, else Q3_K. */
    choose_all("Q2_K", 4, 1, &c);
    CHECK_EQ_INT(c.attn_v[5], MB_TYPE_Q4_K);
    CHECK_EQ_INT(c.ffn_down[5], MB_TYPE_Q3_K);
    choose_all("Q2_K", 1, 1, &c);
    CHECK_EQ_INT(c.attn_v[5], MB_TYPE_Q3_K);
    /* Q4_K_S: first four attn_v and the first eighth of ffn_down Q5_K. */
    choose_all("Q4_K_S", 1, 1, &c);
    CHECK_EQ_INT(c.attn_v[3], MB_TYPE_Q5_K);
    CHECK_EQ_INT(c.attn_v[4], MB_TYPE_Q4_K);
    CHECK_EQ_INT(c.ffn_down[0], MB_TYPE_Q5_K);
    CHECK_EQ_INT(c.ffn_down[1], MB_TYPE_Q4_K);
    /* Tied embeddings: token_embd is the output, so Q6_K. */
    choose_all("Q5_K_S", 1, 0, &c);
    CHECK_EQ_INT(c.token_embd, MB_TYPE_Q6_K);
    /* F16: every 2-D weight, no rules. */
    choose_all("F16", 1, 1, &c);
    CHECK_EQ_INT(c.output, MB_TYPE_F16);
    CHECK_EQ_INT(c.attn_v[0], MB_TYPE_F16);
}

static void expect_choice(const char *preset, const char *name, uint64_t width, uint32_t want,
                          int fallback) {
    mb_quant_rules r = {.n_layer = 1, .n_gqa = 1, .has_output = 1, .n_attn_v = 1};
    const uint64_t ne[2] = {width, 64};
    mb_quant_choice ch;
    CHECK_OK(mb_quant_choose(mb_quant_preset_find(preset), &r, name, 2, ne, MB_TYPE_F32, &ch));
    CHECK_MSG(ch.type == want && ch.fallback == fallback, "%s %s width %llu: got %s (fallback %d)",
              preset, name, (unsigned long long)width, mb_type_name(ch.type), ch.fallback);
}

static void test_fallbacks(void) {
    expect_choice("Q4_K_M", "blk.0.attn_q.weight", 64, MB_TYPE_Q5_0, 1);
    expect_choice("Q4_K_M", "blk.0.ffn_down.weight", 172, MB_TYPE_F16, 1);
    expect_choice("Q6_K", "blk.0.attn_q.weight", 64, MB_TYPE_Q8_0, 1);
    expect_choice("Q5_K_S", "blk.0.attn_q.weight", 64, MB_TYPE_Q5_1, 1);
    expect_choice("Q2_K", "blk.0.attn_q.weight", 64, MB_TYPE_Q4_0, 1);
    expect_choice("Q4_K_M", "output.weight", 64, MB_TYPE_Q8_0, 0); /* the output rule itself */
    expect_choice("Q8_0", "blk.0.attn_q.weight", 64, MB_TYPE_Q8_0, 0);
    /* Legacy types are refused where the reference refuses, unless asked. */
    mb_quant_rules r = {.n_layer = 1, .n_gqa = 1, .has_output = 1};
    const uint64_t ne[2] = {172, 64};
    mb_quant_choice ch;
    CHECK(mb_quant_choose(mb_quant_preset_find("Q8_0"), &r, "blk.0.ffn_down.weight", 2, ne,
                          MB_TYPE_F32, &ch) == MB_ERR_UNSUPPORTED);
    CHECK(strstr(mb_last_error(), "172") != NULL);
    r.allow_fallback = 1;
    CHECK_OK(mb_quant_choose(mb_quant_preset_find("Q8_0"), &r, "blk.0.ffn_down.weight", 2, ne,
                             MB_TYPE_F32, &ch));
    CHECK_EQ_INT(ch.type, MB_TYPE_F16);
}

/* Logits of the first tokens, for comparing models. */
static int run_logits(const char *path, float *out, int n_vocab_cap) {
    mb_model *m = NULL;
    mb_session *s = NULL;
    mb_model_params mp = mb_model_default_params();
    if (mb_model_load(path, &mp, &m) != MB_OK) return 0;
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 16;
    sp.n_threads = 1;
    const mb_token ids[4] = {1, 70, 80, 90};
    int ok = mb_session_new(m, &sp, &s) == MB_OK && mb_session_eval(s, ids, 4) == MB_OK &&
             mb_model_n_vocab(m) <= n_vocab_cap;
    if (ok) memcpy(out, mb_session_logits(s), (size_t)mb_model_n_vocab(m) * sizeof *out);
    mb_session_free(s);
    mb_model_free(m);
    return ok ? 259 : 0;
}

static void test_round_trip_every_preset(const char *dir) {
    char f32[512], out[512];
    snprintf(f32, sizeof f32, "%s/tiny-f32.gguf", dir);
    mbt_tiny_model cfg = {.n_embd = 256,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 512,
                          .n_ctx = 64,
                          .weight_type = MB_TYPE_F32,
                          .seed = 3};
    CHECK_OK(mbt_write_tiny_model(f32, &cfg));
    float ref[512], got[512];
    CHECK(run_logits(f32, ref, 512) == 259);
    mb_quantize_params p = {.n_threads = 2};
    for (int i = 0; i < mb_quant_preset_count(); i++) {
        const char *name = mb_quant_preset_at(i)->name;
        snprintf(out, sizeof out, "%s/tiny-%s.gguf", dir, name);
        mb_quantize_stats st;
        p.type = name;
        mb_status s = mb_quantize_file(f32, out, &p, &st);
        CHECK_MSG(s == MB_OK, "%s: %s", name, mb_last_error());
        if (s) continue;
        CHECK(st.bytes_out > 0 && st.file_out > st.bytes_out);
        CHECK_MSG(run_logits(out, got, 512) == 259, "%s does not load and run: %s", name,
                  mb_last_error());
        double d2 = 0, r2 = 0;
        for (int v = 0; v < 259; v++) {
            d2 += (got[v] - ref[v]) * (got[v] - ref[v]);
            r2 += ref[v] * ref[v];
        }
        /* Relative logit error: ~0 for F32, small for 8 bits, larger for 2. */
        const double rel = sqrt(d2 / r2);
        CHECK_MSG(rel < (strcmp(name, "Q2_K") == 0 || strncmp(name, "Q3", 2) == 0 ? 0.6 : 0.3),
                  "%s: relative logit error %g", name, rel);
    }
}

static void test_refusals(const char *dir) {
    char in[512], q8[512], out[512], q4[512];
    snprintf(in, sizeof in, "%s/w172.gguf", dir);
    snprintf(q8, sizeof q8, "%s/w172-q8.gguf", dir);
    snprintf(out, sizeof out, "%s/w172-out.gguf", dir);
    snprintf(q4, sizeof q4, "%s/w172-q4km.gguf", dir);
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 1,
                          .n_head = 2,
                          .n_head_kv = 2,
                          .n_ff = 172,
                          .n_ctx = 32,
                          .weight_type = MB_TYPE_F32,
                          .seed = 5};
    CHECK_OK(mbt_write_tiny_model(in, &cfg));
    mb_quantize_params p = {.n_threads = 1};
    mb_quantize_stats st;
    /* Q8_0 on ffn width 172: refused before anything is written. */
    p.type = "Q8_0";
    CHECK(mb_quantize_file(in, out, &p, &st) == MB_ERR_UNSUPPORTED);
    CHECK(!file_exists(out));
    /* With --allow-fallback it works, ffn_down kept in F16. */
    p.allow_fallback = 1;
    p.type = "Q8_0";
    CHECK_OK(mb_quantize_file(in, q8, &p, &st));
    CHECK(st.n_fallback == 1);
    /* Requantizing is refused without the flag, then allowed. */
    p.type = "Q4_K_M";
    CHECK(mb_quantize_file(q8, q4, &p, &st) == MB_ERR_UNSUPPORTED);
    CHECK(strstr(mb_last_error(), "--allow-requantize") != NULL);
    CHECK(!file_exists(q4));
    p.allow_requantize = 1;
    p.type = "Q4_K_M";
    CHECK_OK(mb_quantize_file(q8, q4, &p, &st));
    /* Unknown type: the message lists the valid ones. */
    p.type = "Q7_K";
    CHECK(mb_quantize_file(in, out, &p, &st) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "Q4_K_M") != NULL);
    /* Unreadable input. */
    snprintf(out, sizeof out, "%s/none.gguf", dir);
    p.type = "Q4_K_M";
    CHECK(mb_quantize_file(out, q4, &p, &st) != MB_OK);
    /* A failed write leaves an existing output untouched: writing into a
     * missing directory fails and q4 (from above) stays as it was. */
    size_t before = 0, after = 0;
    free(mbt_read_file(q4, &before));
    snprintf(out, sizeof out, "%s/missing-dir/x.gguf", dir);
    p.type = "Q4_K_M";
    CHECK(mb_quantize_file(in, out, &p, &st) == MB_ERR_IO);
    free(mbt_read_file(q4, &after));
    CHECK(before == after && before > 0);
}

int main(void) {
    const char *dir = mbt_tmpdir();
    test_encoders_beat_simple_fit();
    test_preset_rules();
    test_fallbacks();
    test_round_trip_every_preset(dir);
    test_refusals(dir);
    return mbt_finish();
}
