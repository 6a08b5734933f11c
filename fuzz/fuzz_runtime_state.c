/* libFuzzer target for the session-state loader (mb_session_state_read):
 * any input must load or be refused with a message, never crash, and a
 * refused input must leave the session as it was. A loaded state must be
 * usable: one more token is fed and its logits read (ASan checks the
 * cache slots the attention reads).
 *
 * The sessions belong to two tiny models written once per process (a
 * plain one and one with a window of 8 on every layer); the seed corpus
 * holds states of these two models (fed 0, 5 and 40 tokens) and damaged
 * copies of them. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "matchbox.h"
#include "test_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { N_CTX = 64 };

static mb_session *sessions[2];
static volatile float sink;

static mb_session *open_session(const char *name, int window) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    mbt_tiny_model cfg = {.n_embd = 32,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 64,
                          .n_ctx = N_CTX,
                          .seed = 1,
                          .sliding_window = window};
    mb_model *m = NULL;
    mb_session *s = NULL;
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = N_CTX;
    sp.n_threads = 1;
    if (mbt_write_tiny_model(path, &cfg) || mb_model_load(path, NULL, &m) ||
        mb_session_new(m, &sp, &s))
        __builtin_trap();
    const mb_token bos = 1; /* defined logits to compare a refused load against */
    if (mb_session_eval(s, &bos, 1) != MB_OK) __builtin_trap();
    return s; /* the model and session live as long as the process */
}

static void try_load(mb_session *s, const uint8_t *data, size_t size) {
    const int n_past = mb_session_n_past(s);
    const float first = mb_session_logits(s)[0];
    if (mb_session_state_read(s, data, size) != MB_OK) {
        if (mb_last_error()[0] == '\0') __builtin_trap();
        /* Refused: untouched (unless the I/O failed mid-cache, which memory cannot). */
        if (mb_session_n_past(s) != n_past || memcmp(&first, mb_session_logits(s), 4) != 0)
            __builtin_trap();
        return;
    }
    if (mb_session_n_past(s) > N_CTX) __builtin_trap();
    if (mb_session_n_past(s) < N_CTX) {
        const mb_token id = 3;
        if (mb_session_eval(s, &id, 1) != MB_OK) __builtin_trap();
    }
    sink = mb_session_logits(s)[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!sessions[0]) {
        sessions[0] = open_session("plain", 0);
        sessions[1] = open_session("windowed", 8);
    }
    try_load(sessions[0], data, size);
    try_load(sessions[1], data, size);
    return 0;
}
