/* Batches the decode steps of the server's slots: each slot thread runs the
 * ordinary mb_generate loop, and its single-token evaluations meet here;
 * when every slot that is decoding has handed in its next token, one
 * mb_batch_decode pass feeds them all. */
#ifndef MB_ENGINE_BATCHER_H
#define MB_ENGINE_BATCHER_H

#include "matchbox.h"

typedef struct mb_batcher mb_batcher;

/* One slot's place in the batcher. */
typedef struct {
    mb_batcher *b;
    mb_session *s;
    int member;       /* in the decoding group: the next step waits for this slot */
    mb_token id;      /* the token handed in */
    mb_status status; /* the step's result for this slot */
} mb_batch_seat;

mb_status mb_batcher_new(mb_model *model, int n_slots, int n_ctx, int n_threads, mb_batcher **out);
void mb_batcher_free(mb_batcher *b);
/* Route S's decode steps through B; SEAT must live as long as S. */
void mb_batcher_attach(mb_batcher *b, mb_batch_seat *seat, mb_session *s);
/* The slot's generation ended: later steps no longer wait for it. */
void mb_batcher_leave(mb_batch_seat *seat);
/* Steps run and rows fed so far (rows / steps is the mean batch size). */
void mb_batcher_stats(mb_batcher *b, unsigned long long *steps, unsigned long long *rows);

#endif
