/* The engine's batcher: when a batched step fails, every slot in it gets the
 * failure and its message, not only the thread that ran the step (the
 * others reported a stale mb_last_error() before). Slot B decodes once and
 * so joins the group; slot A then hands in a good token and waits for B,
 * which hands in a token outside the vocabulary: that pass fails for both. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "engine/batcher.h"
#include "tensor/types.h"
#include "test_util.h"

typedef struct {
    mb_session *s;
    mb_token token;
    mb_status st;
    char msg[256];
} slot;

static pthread_barrier_t b_joined;
static volatile int *a_member; /* slot A's seat: set once A waits in the batcher */

static void *run_a(void *arg) {
    slot *sl = arg;
    sl->st = mb_session_eval(sl->s, &sl->token, 1);
    snprintf(sl->msg, sizeof sl->msg, "%s", mb_last_error());
    return NULL;
}

static void *run_b(void *arg) {
    slot *sl = arg;
    mb_token first = 5;
    CHECK_OK(mb_session_eval(sl->s, &first, 1)); /* alone: B is now a member */
    pthread_barrier_wait(&b_joined);
    while (!*a_member) /* A has joined and waits for B's token */
        sched_yield();
    sl->st = mb_session_eval(sl->s, &sl->token, 1);
    snprintf(sl->msg, sizeof sl->msg, "%s", mb_last_error());
    return NULL;
}

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/batcher.gguf", mbt_tmpdir());
    mbt_tiny_model cfg = {.n_embd = 64,
                          .n_layer = 1,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 96,
                          .n_ctx = 64,
                          .weight_type = MB_TYPE_F32,
                          .seed = 3};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    if (!m) return mbt_finish();
    mb_batcher *b = NULL;
    CHECK_OK(mb_batcher_new(m, 2, 64, 1, &b));
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 1;
    slot slots[2] = {{.token = 7}, {.token = 1000000}}; /* A, B */
    mb_batch_seat seats[2];
    for (int i = 0; i < 2; i++) {
        CHECK_OK(mb_session_new(m, &sp, &slots[i].s));
        mb_batcher_attach(b, &seats[i], slots[i].s);
    }
    a_member = &seats[0].member;
    pthread_barrier_init(&b_joined, NULL, 2);
    pthread_t t[2];
    pthread_create(&t[1], NULL, run_b, &slots[1]);
    pthread_barrier_wait(&b_joined);
    pthread_create(&t[0], NULL, run_a, &slots[0]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(slots[i].st == MB_ERR_INVALID_ARG);
        CHECK_MSG(strstr(slots[i].msg, "outside the vocabulary") != NULL, "slot %d: '%s'", i,
                  slots[i].msg);
        mb_batcher_leave(&seats[i]);
        mb_session_free(slots[i].s);
    }
    pthread_barrier_destroy(&b_joined);
    mb_batcher_free(b);
    mb_model_free(m);
    return mbt_finish();
}
