/* Selection without sorting: the encoder of the sparse types and the
 * pruner both keep the largest values of a set. */
#ifndef MB_TENSOR_SELECT_H
#define MB_TENSOR_SELECT_H

/* The K-th smallest (0-based) of A[0..N), by quickselect (Hoare's
 * partition); A is reordered. K must be in [0, N). NaNs are not allowed. */
float mb_select_kth(float *a, int n, int k);

#endif
