/* Importance matrices: per weight matrix, the sum over calibration rows of
 * each input channel's x^2 (and its max |x|), with the number of rows seen.
 * The quantizer weights each weight column's fitting error by mean x^2
 * (docs/QUANTIZE.md, "Importance matrix").
 *
 * Files (mb_imatrix_read detects which):
 * - GGUF, llama.cpp's layout: general.type = "imatrix", imatrix.datasets
 *   (string array), imatrix.chunk_count and imatrix.chunk_size (u32); per
 *   matrix NAME the F32 tensors NAME.in_sum2 [n_cols, n_mat] and
 *   NAME.counts [1, n_mat]. matchbox adds NAME.in_max [n_cols, n_mat]
 *   (max |x| per channel, for SmoothQuant), which llama.cpp ignores.
 * - Legacy imatrix.dat: int32 n_entries; per entry int32 name length, name,
 *   int32 ncall, int32 nval, float values[nval] (mean x^2 times ncall);
 *   then optionally int32 chunk count, int32 length and the dataset name.
 *   Counts are ncall * chunk_size rows (chunk_size is not stored: 512 is
 *   assumed when a file gives none). */
#ifndef MB_QUANTIZE_IMATRIX_H
#define MB_QUANTIZE_IMATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"
#include "matchbox/quantize.h"

typedef struct {
    char *name;     /* the weight tensor, "blk.0.attn_q.weight" */
    int n_cols;     /* input channels per matrix */
    int n_mat;      /* 1, or the experts of a 3-D tensor */
    double *sum2;   /* [n_mat][n_cols] sum of x^2 */
    float *max_abs; /* [n_mat][n_cols] max |x|, or NULL when unknown */
    double *count;  /* [n_mat] rows accumulated */
} mb_imatrix_entry;

/* The definition behind the public handle (matchbox/quantize.h). */
struct mb_imatrix {
    mb_imatrix_entry *e;
    int n, cap;
    char **datasets;
    int n_datasets;
    int chunk_count, chunk_size;
};

/* new, free, read, write, add_dataset, merge and the counts are public:
 * matchbox/quantize.h. */
const mb_imatrix_entry *mb_imatrix_find(const mb_imatrix *im, const char *name);
/* The entry NAME, created (zeroed, with max_abs) if absent; fails if it
 * exists with another shape. */
mb_status mb_imatrix_get(mb_imatrix *im, const char *name, int n_cols, int n_mat,
                         mb_imatrix_entry **out);
/* Accumulate N_ROWS rows of X [n_rows][n_cols] into matrix MAT of E. */
void mb_imatrix_accumulate(mb_imatrix_entry *e, int mat, const float *x, int n_rows);
/* Mean x^2 of matrix MAT into OUT [n_cols] (1 where nothing was seen). */
void mb_imatrix_mean(const mb_imatrix_entry *e, int mat, float *out);

/* Parse a buffer holding a GGUF or legacy .dat file (fuzzing). */
mb_status mb_imatrix_parse(const uint8_t *data, size_t size, const char *name, mb_imatrix **out);
/* Write atomically: GGUF (ours = llama.cpp's + in_max) or legacy .dat. */
mb_status mb_imatrix_write_gguf(const mb_imatrix *im, const char *path);
mb_status mb_imatrix_write_dat(const mb_imatrix *im, const char *path);

#endif
