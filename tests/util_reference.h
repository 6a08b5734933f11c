#ifndef MB_TEST_UTIL_REFERENCE_H
#define MB_TEST_UTIL_REFERENCE_H

#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

/* Whitespace-separated ids; returns the count (may exceed CAP), -1 if unreadable. */
int mbt_read_ids(const char *path, int32_t *ids, int cap);
/* A raw little-endian float32 file; *n values. Caller frees. */
float *mbt_read_f32(const char *path, size_t *n);

/* One row of a NAME.steps.tsv: the chosen id and the reference's top 5. */
typedef struct {
    int32_t id;
    int n_top;
    int32_t top_id[5];
    float top_logit[5];
} mbt_step;
int mbt_read_steps(const char *path, mbt_step *steps, int cap);

/* Every number in the JSON array (nested arrays flattened) that follows KEY. */
int mbt_json_numbers(const char *json, const char *key, double *out, int cap);

#endif
