/* The meeting point of the slots' decode steps. The last slot to hand in
 * its token runs the batched step for everyone, under the lock; the others
 * sleep until the step count moves. A slot joins the group at its first
 * decode step (so a long prefill holds up no one) and leaves when its
 * generation ends, which may complete the group and run the step itself. */
#include "engine/batcher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "runtime/batch.h"

struct mb_batcher {
    mb_batch *batch;
    pthread_mutex_t mu;
    pthread_cond_t stepped;
    int members, n_wait, max;
    mb_batch_seat **waiting;
    mb_session **sessions;
    mb_token *ids;
    unsigned long long steps, rows;
    char error[256]; /* the last failed step's message, for every slot in it */
};

/* Run the step for every seat waiting. Called with the lock held. */
static void run_step(mb_batcher *b) {
    for (int i = 0; i < b->n_wait; i++) {
        b->sessions[i] = b->waiting[i]->s;
        b->ids[i] = b->waiting[i]->id;
    }
    mb_status st = mb_batch_decode(b->batch, b->sessions, b->ids, b->n_wait);
    /* The message is this thread's; the slots that waited read it here. */
    if (st) snprintf(b->error, sizeof b->error, "%s", mb_last_error());
    for (int i = 0; i < b->n_wait; i++)
        b->waiting[i]->status = st;
    b->steps++;
    b->rows += (unsigned long long)b->n_wait;
    b->n_wait = 0;
    pthread_cond_broadcast(&b->stepped);
}

static mb_status on_decode(void *ctx, mb_session *s, mb_token id) {
    mb_batch_seat *seat = ctx;
    mb_batcher *b = seat->b;
    (void)s;
    pthread_mutex_lock(&b->mu);
    if (!seat->member) {
        seat->member = 1;
        b->members++;
    }
    seat->id = id;
    b->waiting[b->n_wait++] = seat;
    unsigned long long step = b->steps;
    if (b->n_wait == b->members)
        run_step(b);
    else
        while (b->steps == step)
            pthread_cond_wait(&b->stepped, &b->mu);
    mb_status st = seat->status;
    if (st) mb_errorf(st, "%s", b->error); /* this slot's thread reports the step's error */
    pthread_mutex_unlock(&b->mu);
    return st;
}

void mb_batcher_leave(mb_batch_seat *seat) {
    mb_batcher *b = seat->b;
    pthread_mutex_lock(&b->mu);
    if (seat->member) {
        seat->member = 0;
        b->members--;
        if (b->n_wait > 0 && b->n_wait == b->members) run_step(b);
    }
    pthread_mutex_unlock(&b->mu);
}

void mb_batcher_attach(mb_batcher *b, mb_batch_seat *seat, mb_session *s) {
    *seat = (mb_batch_seat){.b = b, .s = s};
    mb_session_set_decode_hook(s, on_decode, seat);
}

mb_status mb_batcher_new(mb_model *model, int n_slots, int n_ctx, int n_threads, mb_batcher **out) {
    *out = NULL;
    mb_batcher *b = calloc(1, sizeof *b);
    if (!b) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    b->max = n_slots;
    b->waiting = calloc((size_t)n_slots, sizeof *b->waiting);
    b->sessions = calloc((size_t)n_slots, sizeof *b->sessions);
    b->ids = calloc((size_t)n_slots, sizeof *b->ids);
    mb_status st = b->waiting && b->sessions && b->ids
                       ? mb_batch_new(model, n_slots, n_ctx, n_threads, &b->batch)
                       : mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    if (st) {
        mb_batcher_free(b);
        return st;
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->stepped, NULL);
    *out = b;
    return MB_OK;
}

void mb_batcher_free(mb_batcher *b) {
    if (!b) return;
    if (b->batch) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->stepped);
    }
    mb_batch_free(b->batch);
    free(b->waiting);
    free(b->sessions);
    free(b->ids);
    free(b);
}

void mb_batcher_stats(mb_batcher *b, unsigned long long *steps, unsigned long long *rows) {
    pthread_mutex_lock(&b->mu);
    *steps = b->steps;
    *rows = b->rows;
    pthread_mutex_unlock(&b->mu);
}
