/* Where the weights live: use_mmap 1 maps the file, 0 reads it into
 * anonymous memory, -1 (the default) reads it when it fits in available RAM
 * with headroom; mb_model_uses_mmap reports the choice, and both ways give
 * the same logits. */
#include "core/file_map.h"
#include "tensor/types.h"
#include "test_util.h"

static void test_fits_rule(void) {
    const uint64_t gib = 1ull << 30;
    CHECK(!mb_file_map_fits_in_ram(1 << 20, 0)); /* unknown RAM: map */
    CHECK(mb_file_map_fits_in_ram(1 << 20, 8 * gib));
    CHECK(mb_file_map_fits_in_ram(2 * gib, 4 * gib));
    /* 1 GiB + size/8 of headroom: 8 GiB needs 10 GiB available. */
    CHECK(!mb_file_map_fits_in_ram(8 * gib, 9 * gib));
    CHECK(mb_file_map_fits_in_ram(8 * gib, 10 * gib));
    CHECK(!mb_file_map_fits_in_ram(10 * gib, 9 * gib));
    CHECK(!mb_file_map_fits_in_ram(UINT64_MAX, UINT64_MAX - 1));
}

static const float *eval_logits(const char *path, int use_mmap, int *uses_mmap, float *copy) {
    mb_model_params mp = mb_model_default_params();
    mp.use_mmap = use_mmap;
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, &mp, &m));
    if (!m) return NULL;
    *uses_mmap = mb_model_uses_mmap(m);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 32;
    sp.n_threads = 1;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &sp, &s));
    const float *out = NULL;
    if (s) {
        mb_token ids[4] = {1, 70, 80, 90};
        CHECK_OK(mb_session_eval(s, ids, 4));
        memcpy(copy, mb_session_logits(s), (size_t)mb_model_n_vocab(m) * sizeof *copy);
        out = copy;
    }
    mb_session_free(s);
    mb_model_free(m);
    return out;
}

int main(void) {
    test_fits_rule();
    CHECK_EQ_INT(mb_model_default_params().use_mmap, -1);
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 1,
                          .n_head = 4,
                          .n_head_kv = 4,
                          .n_ff = 96,
                          .n_ctx = 64,
                          .weight_type = MB_TYPE_Q8_0,
                          .seed = 11};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    static float a[512], b[512], c[512];
    int mapped = -1, anon = -1, automatic = -1;
    const float *la = eval_logits(path, 1, &mapped, a);
    const float *lb = eval_logits(path, 0, &anon, b);
    const float *lc = eval_logits(path, -1, &automatic, c);
    CHECK_EQ_INT(mapped, 1);
    CHECK_EQ_INT(anon, 0);
    /* A tiny file fits wherever the tests run (unless RAM is unknown). */
    CHECK_EQ_INT(automatic, mb_mem_available() > 0 ? 0 : 1);
    if (la && lb && lc) {
        CHECK(memcmp(la, lb, 259 * sizeof(float)) == 0);
        CHECK(memcmp(la, lc, 259 * sizeof(float)) == 0);
    }
    return mbt_finish();
}
