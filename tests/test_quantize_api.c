/* The public quantization API (include/matchbox/quantize.h) as an app uses
 * it, through the public headers only: the library's defaults, the checks
 * of a params struct before any work, GPTQ and AWQ chosen by a field with
 * their progress through the callback, and importance matrices captured,
 * merged, written and read back. */
#include "matchbox.h"
#include "matchbox/gguf.h"
#include "matchbox/quantize.h"
#include "test_util.h"

typedef struct {
    char text[1 << 14];
    size_t len;
    int calls;
} progress_log;

static void collect(void *user, const char *text) {
    progress_log *log = user;
    log->calls++;
    size_t n = strlen(text);
    if (log->len + n < sizeof log->text) {
        memcpy(log->text + log->len, text, n + 1);
        log->len += n;
    }
}

static char *tmp(const char *name) {
    static char buf[8][512];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/%s", mbt_tmpdir(), name);
    return p;
}

static int exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static void test_defaults(void) {
    const mb_quantize_params p = mb_quantize_default_params();
    CHECK(p.type && !strcmp(p.type, "Q4_K_M"));
    CHECK_EQ_INT(p.method, MB_QUANT_PLAIN);
    CHECK_NEAR(p.gptq.damp, 0.01, 0);
    CHECK_EQ_INT(p.gptq.block, 128);
    CHECK_NEAR(p.gptq.mem_mib, 1024, 0);
    CHECK_EQ_INT(p.gptq.weighted_fit, 0);
    CHECK_EQ_INT(p.awq.n_grid, 20);
    CHECK_EQ_INT(p.awq.weighted_fit, 1); /* AWQ fits weighted unless asked not to */
    CHECK(p.progress == NULL && p.imatrix == NULL && p.target_bpw == 0);
    const mb_calibrate_params c = mb_calibrate_default_params();
    CHECK_EQ_INT(c.n_ctx, 512);
    CHECK_EQ_INT(c.n_chunks, 0);
    CHECK(mb_quant_preset_find("q4_k_m") && mb_quant_preset_find("Q7_K") == NULL);
    CHECK(strstr(mb_quant_preset_names(), "Q8_0") != NULL);
}

/* Refused before anything is read or written: OUT never appears. */
static void test_refusals(const char *model, const char *calib) {
    const char *out = tmp("api-refused.gguf");
    remove(out);
    mb_quantize_params p = mb_quantize_default_params();
    p.method = MB_QUANT_GPTQ; /* no calibration text */
    CHECK(mb_quantize_file(model, out, &p, NULL) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "calib_path") != NULL);
    p.calib_path = calib;
    p.smooth_alpha = 0.5f; /* both rescale the norms */
    CHECK(mb_quantize_file(model, out, &p, NULL) == MB_ERR_INVALID_ARG);
    p = mb_quantize_default_params();
    p.target_bpw = 4.5; /* measured on a text it does not have */
    CHECK(mb_quantize_file(model, out, &p, NULL) == MB_ERR_INVALID_ARG);
    p = mb_quantize_default_params();
    p.type = "Q7_K";
    mb_quantize_stats st = {.n_tensors = 99};
    CHECK(mb_quantize_file(model, out, &p, &st) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "valid types") != NULL);
    CHECK_EQ_INT(st.n_tensors, 0); /* zeroed on failure too */
    p.type = "Q4_0";
    p.method = (mb_quant_method)7;
    CHECK(mb_quantize_file(model, out, &p, NULL) == MB_ERR_INVALID_ARG);
    CHECK(!exists(out));
}

/* A method is a field; its notes and the per-tensor lines arrive through
 * the callback, and the file has the planned types. */
static void test_method(const char *model, const char *calib, mb_quant_method method,
                        const char *note) {
    const char *out = tmp("api-method.gguf");
    progress_log log = {.len = 0};
    mb_quantize_params p = mb_quantize_default_params();
    p.type = "Q4_0";
    p.method = method;
    p.calib_path = calib;
    p.calib_ctx = 32;
    p.calib_chunks = 2;
    p.n_threads = 2;
    p.awq.n_grid = 4;
    p.progress = collect;
    p.progress_user = &log;
    mb_quantize_stats st;
    CHECK_OK(mb_quantize_file(model, out, &p, &st));
    CHECK_MSG(strstr(log.text, note) != NULL, "no '%s' in: %.300s", note, log.text);
    CHECK(strstr(log.text, "blk.0.attn_q.weight") != NULL);
    CHECK(st.n_converted > 0 && st.n_tensors > st.n_converted);
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(out, 1, 0, &g));
    const mb_gguf_tensor *t = g ? mb_gguf_find_tensor(g, "blk.1.ffn_down.weight") : NULL;
    CHECK(t && !strcmp(mb_gguf_tensor_type_name(t->type), "Q4_0"));
    mb_gguf_close(g);
    /* quiet without a callback */
    p.progress = NULL;
    CHECK_OK(mb_quantize_file(model, out, &p, NULL));
}

static mb_imatrix *calibrate(const char *model_path, const char *text, progress_log *log) {
    mb_model_params mp = mb_model_default_params();
    mb_model *m = NULL;
    mb_imatrix *im = NULL;
    CHECK_OK(mb_model_load(model_path, &mp, &m));
    CHECK_OK(mb_imatrix_new(&im));
    mb_calibrate_params cp = mb_calibrate_default_params();
    cp.n_ctx = 32;
    cp.n_chunks = 2;
    cp.n_threads = 2;
    cp.progress = log ? collect : NULL;
    cp.progress_user = log;
    if (m && im) CHECK_OK(mb_calibrate(m, text, strlen(text), &cp, im));
    mb_model_free(m);
    return im;
}

static void test_imatrix(const char *model, const char *other_model, const char *text) {
    progress_log log = {.len = 0};
    mb_imatrix *a = calibrate(model, text, &log), *b = calibrate(model, text, NULL);
    mb_imatrix *c = calibrate(other_model, text, NULL);
    if (!a || !b || !c) goto done;
    CHECK(strstr(log.text, "\rcalibrate: chunk 2/2") != NULL);
    CHECK_EQ_INT(mb_imatrix_n_entries(a), 2 * 7); /* q k v o gate up down per layer */
    CHECK_EQ_INT(mb_imatrix_chunk_count(a), 2);
    CHECK_EQ_INT(mb_imatrix_chunk_size(a), 32);
    CHECK_OK(mb_imatrix_add_dataset(b, "second.txt"));
    CHECK_OK(mb_imatrix_merge(a, b)); /* same matrices: sums add, chunks add */
    CHECK_EQ_INT(mb_imatrix_n_entries(a), 2 * 7);
    CHECK_EQ_INT(mb_imatrix_chunk_count(a), 4);
    /* another model's matrices have other widths */
    CHECK(mb_imatrix_merge(a, c) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "blk.0.attn_q.weight") != NULL);
    const char *dat = tmp("api-imatrix.dat"), *gg = tmp("api-imatrix.gguf");
    for (int k = 0; k < 2; k++) {
        mb_imatrix *r = NULL;
        CHECK_OK(mb_imatrix_write(b, k ? gg : dat));
        CHECK_OK(mb_imatrix_read(k ? gg : dat, &r));
        CHECK(r && mb_imatrix_n_entries(r) == 2 * 7 && mb_imatrix_chunk_count(r) == 2);
        mb_imatrix_free(r);
    }
    mb_imatrix *r = (mb_imatrix *)&r;
    CHECK(mb_imatrix_read(tmp("api-none.gguf"), &r) != MB_OK && r == NULL);
done:
    mb_imatrix_free(a);
    mb_imatrix_free(b);
    mb_imatrix_free(c);
}

int main(void) {
    const char *model = tmp("api-tiny.gguf"), *other = tmp("api-other.gguf");
    const char *calib = tmp("api-calib.txt");
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 128,
                          .seed = 11};
    CHECK_OK(mbt_write_tiny_model(model, &cfg));
    cfg.n_embd = 32;
    cfg.n_ff = 64;
    CHECK_OK(mbt_write_tiny_model(other, &cfg));
    CHECK(mbt_write_calib_text(calib) == 0);
    test_defaults();
    test_refusals(model, calib);
    test_method(model, calib, MB_QUANT_GPTQ, "gptq: calibration pass");
    test_method(model, calib, MB_QUANT_AWQ, "awq: calibration pass");
    size_t len = 0;
    char *text = mbt_read_file(calib, &len);
    if (text) test_imatrix(model, other, text);
    free(text);
    return mbt_finish();
}
