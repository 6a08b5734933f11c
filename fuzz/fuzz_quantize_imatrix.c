/* libFuzzer target for the importance-matrix reader (GGUF and legacy .dat):
 * any input must parse or fail with a message, never crash; a parsed
 * matrix's every value is read back (ASan checks each byte). */
#include <stddef.h>
#include <stdint.h>

#include "quantize/imatrix.h"

static volatile double sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_imatrix *im = NULL;
    if (mb_imatrix_parse(data, size, "fuzz", &im) != MB_OK) return 0;
    double h = (double)im->chunk_count + im->chunk_size + im->n_datasets;
    for (int i = 0; i < im->n; i++) {
        const mb_imatrix_entry *e = &im->e[i];
        h += e->name[0];
        for (int m = 0; m < e->n_mat; m++) {
            h += e->count[m];
            for (int j = 0; j < e->n_cols; j++) {
                h += e->sum2[(size_t)m * (size_t)e->n_cols + (size_t)j];
                if (e->max_abs) h += e->max_abs[(size_t)m * (size_t)e->n_cols + (size_t)j];
            }
        }
    }
    sink = h;
    mb_imatrix_free(im);
    return 0;
}
