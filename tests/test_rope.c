/* RoPE and its scalings, checked by the properties that define them. */
#include "model/rope.h"
#include "test_util.h"

static mb_hparams base_hparams(void) {
    mb_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.n_rot = 64;
    hp.head_dim = 64;
    hp.rope_base = 10000.0f;
    hp.rope_freq_scale = 1.0f;
    hp.n_ctx_train = 4096;
    return hp;
}

static void fill(float *x, int n, uint64_t seed) {
    for (int i = 0; i < n; i++)
        x[i] = mbt_rand_float(&seed);
}

static double max_diff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* The score of a rotated query and key depends only on their distance. */
static void test_relative_positions(void) {
    mb_hparams hp = base_hparams();
    mb_rope r;
    CHECK_OK(mb_rope_init(&r, &hp, NULL));
    float q[64], k[64], q1[64], k1[64], q2[64], k2[64];
    fill(q, 64, 1);
    fill(k, 64, 2);
    memcpy(q1, q, sizeof q);
    memcpy(k1, k, sizeof k);
    memcpy(q2, q, sizeof q);
    memcpy(k2, k, sizeof k);
    mb_rope_apply(&r, q1, 1, 64, 10);
    mb_rope_apply(&r, k1, 1, 64, 3);
    mb_rope_apply(&r, q2, 1, 64, 1007);
    mb_rope_apply(&r, k2, 1, 64, 1000);
    double s1 = 0, s2 = 0;
    for (int i = 0; i < 64; i++) {
        s1 += q1[i] * k1[i];
        s2 += q2[i] * k2[i];
    }
    CHECK_NEAR(s1, s2, 1e-3);
    /* Rotation keeps the norm; position 0 is the identity. */
    double n0 = 0, n1 = 0;
    for (int i = 0; i < 64; i++) {
        n0 += q[i] * q[i];
        n1 += q2[i] * q2[i];
    }
    CHECK_NEAR(n0, n1, 1e-3);
    float z[64];
    memcpy(z, q, sizeof q);
    mb_rope_apply(&r, z, 1, 64, 0);
    CHECK(max_diff(z, q, 64) == 0);
}

/* Only the first n_rot dimensions of each head turn. */
static void test_partial_rotation(void) {
    mb_hparams hp = base_hparams();
    hp.n_rot = 16;
    mb_rope r;
    CHECK_OK(mb_rope_init(&r, &hp, NULL));
    float x[128], y[128];
    fill(x, 128, 3);
    memcpy(y, x, sizeof x);
    mb_rope_apply(&r, y, 2, 64, 5);
    CHECK(max_diff(x + 16, y + 16, 48) == 0);
    CHECK(max_diff(x + 64 + 16, y + 64 + 16, 48) == 0);
    CHECK(max_diff(x, y, 16) > 0);
}

/* Linear scaling by 4 at position 8 is plain RoPE at position 2. */
static void test_linear(void) {
    mb_hparams hp = base_hparams();
    mb_rope plain, lin;
    CHECK_OK(mb_rope_init(&plain, &hp, NULL));
    hp.rope_scaling = MB_ROPE_SCALING_LINEAR;
    hp.rope_freq_scale = 0.25f;
    CHECK_OK(mb_rope_init(&lin, &hp, NULL));
    float a[64], b[64];
    fill(a, 64, 4);
    memcpy(b, a, sizeof a);
    mb_rope_apply(&lin, a, 1, 64, 8);
    mb_rope_apply(&plain, b, 1, 64, 2);
    CHECK(max_diff(a, b, 64) < 1e-6);
}

/* Llama 3 frequency factors divide each frequency: factors of 2 everywhere
 * equal linear scaling by 2. */
static void test_freq_factors(void) {
    mb_hparams hp = base_hparams();
    float factors[32];
    for (int i = 0; i < 32; i++)
        factors[i] = 2.0f;
    mb_rope with, lin;
    CHECK_OK(mb_rope_init(&with, &hp, factors));
    hp.rope_scaling = MB_ROPE_SCALING_LINEAR;
    hp.rope_freq_scale = 0.5f;
    CHECK_OK(mb_rope_init(&lin, &hp, NULL));
    float a[64], b[64];
    fill(a, 64, 5);
    memcpy(b, a, sizeof a);
    mb_rope_apply(&with, a, 1, 64, 77);
    mb_rope_apply(&lin, b, 1, 64, 77);
    CHECK(max_diff(a, b, 64) < 1e-5);
    factors[3] = 0;
    CHECK(mb_rope_init(&with, &hp, factors) == MB_ERR_FORMAT);
}

/* Per layer kind (Gemma 3): windowed layers turn with their own base and
 * without the file's linear scaling; global layers with both. LongRoPE's
 * cos/sin scale multiplies the rotated values. */
static void test_layer_kinds_and_mscale(void) {
    mb_hparams hp = base_hparams();
    hp.rope_base = 1e6f;
    hp.rope_base_swa = 10000.0f;
    hp.rope_scale_swa = 0;
    hp.rope_scaling = MB_ROPE_SCALING_LINEAR;
    hp.rope_freq_scale = 0.125f;
    mb_rope global, local, want_local, want_global;
    CHECK_OK(mb_rope_init_ex(&global, &hp, NULL, 1.0f, 0));
    CHECK_OK(mb_rope_init_ex(&local, &hp, NULL, 1.0f, 1));
    mb_hparams plain = base_hparams(); /* base 10000, no scaling */
    CHECK_OK(mb_rope_init(&want_local, &plain, NULL));
    plain.rope_base = 1e6f;
    CHECK_OK(mb_rope_init(&want_global, &plain, NULL));
    float a[64], b[64], c[64], d[64];
    fill(a, 64, 6);
    memcpy(b, a, sizeof a), memcpy(c, a, sizeof a), memcpy(d, a, sizeof a);
    mb_rope_apply(&local, a, 1, 64, 40);
    mb_rope_apply(&want_local, b, 1, 64, 40);
    CHECK(max_diff(a, b, 64) < 1e-6);
    mb_rope_apply(&global, c, 1, 64, 40);
    mb_rope_apply(&want_global, d, 1, 64, 5); /* 40 x 0.125 */
    CHECK(max_diff(c, d, 64) < 1e-5);
    /* A cos/sin scale of 1.19 (Phi-3 128k's) scales every rotated value. */
    mb_rope scaled;
    CHECK_OK(mb_rope_init_ex(&scaled, &plain, NULL, 1.19f, 0));
    fill(a, 64, 7);
    memcpy(b, a, sizeof a);
    mb_rope_apply(&scaled, a, 1, 64, 9);
    mb_rope_apply(&want_global, b, 1, 64, 9);
    for (int i = 0; i < 64; i++)
        b[i] *= 1.19f;
    CHECK(max_diff(a, b, 64) < 1e-5);
}

/* YaRN: high-frequency dimensions keep plain RoPE, low-frequency ones are
 * interpolated like linear scaling, both multiplied by the attention factor
 * 1 + 0.1 ln(s). */
static void test_yarn(void) {
    mb_hparams hp = base_hparams();
    mb_rope plain, lin, yarn;
    CHECK_OK(mb_rope_init(&plain, &hp, NULL));
    hp.rope_freq_scale = 0.25f;
    hp.rope_scaling = MB_ROPE_SCALING_LINEAR;
    CHECK_OK(mb_rope_init(&lin, &hp, NULL));
    hp.rope_scaling = MB_ROPE_SCALING_YARN;
    hp.yarn_orig_ctx = 4096;
    hp.yarn_attn_factor = 1.0f;
    hp.yarn_beta_fast = 32.0f;
    hp.yarn_beta_slow = 1.0f;
    CHECK_OK(mb_rope_init(&yarn, &hp, NULL));
    double mscale = 1 + 0.1 * log(4.0);
    CHECK_NEAR(yarn.mscale, mscale, 1e-9);
    CHECK(yarn.corr_low > 0 && yarn.corr_high < 63 && yarn.corr_low < yarn.corr_high);
    float x[64], a[64], b[64], c[64];
    fill(x, 64, 6);
    memcpy(a, x, sizeof x);
    memcpy(b, x, sizeof x);
    memcpy(c, x, sizeof x);
    int pos = 3000;
    mb_rope_apply(&yarn, a, 1, 64, pos);
    mb_rope_apply(&plain, b, 1, 64, pos);
    mb_rope_apply(&lin, c, 1, 64, pos);
    for (int i = 0; i < 32; i++) {
        float *want = i < yarn.corr_low ? b : i > yarn.corr_high ? c : NULL;
        if (!want) continue;
        for (int k = 0; k < 2; k++)
            CHECK_NEAR(a[2 * i + k], want[2 * i + k] * mscale, 1e-4);
    }
}

/* NeoX pairs (x[i], x[i + n_rot/2]) turn by the same angles as NORM's
 * adjacent pairs (x[2i], x[2i+1]): NEOX on x equals NORM on x with the
 * halves interleaved, exactly, for every position, scaling and partial
 * rotation; dimensions past n_rot stay put in both. */
static void test_neox_is_interleaved_norm(void) {
    mb_hparams hp = base_hparams();
    hp.n_rot = 48; /* partial: 16 of the 64 dims stay put */
    hp.rope_scaling = MB_ROPE_SCALING_YARN;
    hp.rope_freq_scale = 0.5f;
    hp.yarn_orig_ctx = 2048;
    hp.yarn_attn_factor = 1.0f;
    hp.yarn_beta_fast = 32.0f;
    hp.yarn_beta_slow = 1.0f;
    mb_rope norm, neox;
    CHECK_OK(mb_rope_init(&norm, &hp, NULL));
    hp.rope_mode = MB_ROPE_NEOX;
    CHECK_OK(mb_rope_init(&neox, &hp, NULL));
    int half = hp.n_rot / 2, pos[3] = {0, 7, 3001};
    for (int p = 0; p < 3; p++) {
        float x[128], y[128], back[128];
        fill(x, 128, 10 + p);
        for (int h = 0; h < 2; h++) {
            float *xh = x + 64 * h, *yh = y + 64 * h;
            memcpy(yh, xh, 64 * sizeof(float));
            for (int i = 0; i < half; i++) {
                yh[2 * i] = xh[i];
                yh[2 * i + 1] = xh[i + half];
            }
        }
        float orig[128];
        memcpy(orig, x, sizeof x);
        mb_rope_apply(&neox, x, 2, 64, pos[p]);
        mb_rope_apply(&norm, y, 2, 64, pos[p]);
        memcpy(back, y, sizeof y);
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < half; i++) {
                back[64 * h + i] = y[64 * h + 2 * i];
                back[64 * h + i + half] = y[64 * h + 2 * i + 1];
            }
        CHECK(max_diff(x, back, 128) == 0);
        CHECK(max_diff(x + 48, orig + 48, 16) == 0 && max_diff(x + 112, orig + 112, 16) == 0);
        /* The two layouts really differ on the same input (except at 0). */
        float z[128];
        memcpy(z, orig, sizeof z);
        mb_rope_apply(&norm, z, 2, 64, pos[p]);
        CHECK(pos[p] == 0 ? max_diff(z, x, 128) == 0 : max_diff(z, x, 128) > 1e-3);
    }
}

/* NeoX keeps the defining property: scores depend only on the distance. */
static void test_neox_relative_positions(void) {
    mb_hparams hp = base_hparams();
    hp.rope_mode = MB_ROPE_NEOX;
    mb_rope r;
    CHECK_OK(mb_rope_init(&r, &hp, NULL));
    float q[64], k[64], q1[64], k1[64], q2[64], k2[64];
    fill(q, 64, 21);
    fill(k, 64, 22);
    memcpy(q1, q, sizeof q);
    memcpy(k1, k, sizeof k);
    memcpy(q2, q, sizeof q);
    memcpy(k2, k, sizeof k);
    mb_rope_apply(&r, q1, 1, 64, 12);
    mb_rope_apply(&r, k1, 1, 64, 4);
    mb_rope_apply(&r, q2, 1, 64, 2008);
    mb_rope_apply(&r, k2, 1, 64, 2000);
    double s1 = 0, s2 = 0;
    for (int i = 0; i < 64; i++) {
        s1 += q1[i] * k1[i];
        s2 += q2[i] * k2[i];
    }
    CHECK_NEAR(s1, s2, 1e-3);
}

int main(void) {
    test_neox_is_interleaved_norm();
    test_neox_relative_positions();
    test_relative_positions();
    test_partial_rotation();
    test_linear();
    test_freq_factors();
    test_yarn();
    test_layer_kinds_and_mscale();
    return mbt_finish();
}
