/* Calibration: run a float model over a text and hand the input rows of
 * every dense matrix product to a callback (calib_capture.c), and the
 * per-input statistics calibrated quantization needs (calib_stats.c). */
#ifndef MB_QUANTIZE_CALIB_H
#define MB_QUANTIZE_CALIB_H

#include <stdint.h>

#include "core/threadpool.h"
#include "matchbox.h"

typedef struct mb_calib mb_calib;

typedef struct {
    int n_ctx;     /* tokens per chunk; 0: min(512, trained context) */
    int n_chunks;  /* chunks of the text to run; 0: 32 */
    int n_threads; /* 0: physical cores */
} mb_calib_params;

/* Rows X [n_rows][n_in] entering the matrix stored as tensor TENSOR (its
 * index in the model's GGUF). */
typedef void (*mb_calib_fn)(void *user, uint64_t tensor, const float *x, int n_rows, int n_in);

/* Load MODEL_PATH and tokenize TEXT_PATH into chunks. */
mb_status mb_calib_open(const char *model_path, const char *text_path, const mb_calib_params *p,
                        mb_calib **out);
/* One pass over every chunk, FN seeing every projection's input. */
mb_status mb_calib_run(mb_calib *c, mb_calib_fn fn, void *user);
/* The same, and with LOGITS_FN the logits of every position: N rows of
 * n_vocab for positions POS.. of chunk CHUNK, after each batch. FN may be
 * NULL (no observer). */
typedef void (*mb_calib_logits_fn)(void *user, int chunk, int pos, int n, const float *logits);
mb_status mb_calib_run_logits(mb_calib *c, mb_calib_fn fn, mb_calib_logits_fn logits_fn,
                              void *user);
/* The float model the pass runs (its matrices may be swapped between
 * passes). */
mb_model *mb_calib_model(mb_calib *c);
/* The pool the forward pass uses; free while FN runs (FN may use it). */
mb_threadpool *mb_calib_pool(mb_calib *c);
int mb_calib_n_chunks(const mb_calib *c);
int mb_calib_n_ctx(const mb_calib *c);
void mb_calib_close(mb_calib *c);

/* Input statistics of one projection input: H = sum x x^T (double, full
 * symmetric after mb_calib_stat_finish) and sum |x| per channel. */
typedef struct {
    int n;           /* channels */
    uint64_t n_rows; /* rows seen */
    double *h;       /* [n][n], NULL if not asked for */
    double *abs_sum; /* [n] */
    float *scratch;  /* per-thread float rows */
    int n_scratch;
} mb_calib_stat;

mb_status mb_calib_stat_init(mb_calib_stat *s, int n, int with_h, int n_threads);
void mb_calib_stat_add(mb_calib_stat *s, mb_threadpool *pool, const float *x, int n_rows);
/* Mirror H's upper triangle into the lower one. */
void mb_calib_stat_finish(mb_calib_stat *s);
void mb_calib_stat_free(mb_calib_stat *s);

#endif
