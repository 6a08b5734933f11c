/* One generation recorded, for the speculative-decoding tests. */
#include <stdio.h>
#include <string.h>

#include "spec_util.h"
#include "tensor/types.h"
#include "test_util.h"

static int on_token(mb_token id, const float *logits, int n_vocab, void *user) {
    (void)logits, (void)n_vocab;
    spec_run *r = user;
    if (r->n < SPEC_MAX_TOKENS) r->ids[r->n++] = id;
    return r->stop_at > 0 && r->n >= r->stop_at;
}

static int on_text(const char *text, size_t len, void *user) {
    spec_run *r = user;
    if (r->len + len < SPEC_MAX_TEXT) {
        memcpy(r->text + r->len, text, len);
        r->len += len;
        r->text[r->len] = '\0';
    }
    return 0;
}

void spec_generate(const mb_model *m, mb_session *s, const mb_token *prompt, size_t n_prompt,
                   const mb_sampler_params *sp, const mb_generate_params *gp,
                   const mb_speculative_params *spec, spec_run *r) {
    int stop_at = r->stop_at;
    memset(r, 0, sizeof *r);
    r->stop_at = stop_at;
    mb_sampler *smp = NULL;
    r->status = mb_session_rewind(s, 0);
    if (!r->status) r->status = mb_sampler_new(sp, mb_model_n_vocab(m), &smp);
    if (r->status) return;
    mb_generate_params p = *gp;
    p.on_token = on_token;
    p.on_text = on_text;
    p.user = r;
    p.speculative = spec;
    r->status = mb_generate(s, smp, prompt, n_prompt, &p, &r->st);
    r->n_past = mb_session_n_past(s);
    mb_sampler_free(smp);
}

mb_model *spec_tiny_model(const char *name, uint64_t seed, int window, int n_ctx) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = n_ctx,
                          .weight_type = MB_TYPE_F32,
                          .seed = seed,
                          .sliding_window = window};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    return m;
}
