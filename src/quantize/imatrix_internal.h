/* Shared between imatrix.c and imatrix_dat.c. */
#ifndef MB_QUANTIZE_IMATRIX_INTERNAL_H
#define MB_QUANTIZE_IMATRIX_INTERNAL_H

#include "format/gguf.h"
#include "quantize/imatrix.h"

mb_status mb_imatrix_parse_dat(const uint8_t *data, size_t size, mb_imatrix *im);
mb_status mb_imatrix_from_gguf(const mb_gguf *g, mb_imatrix *im);
/* Entries sorted by name (malloc'd array of pointers into IM), or NULL. */
const mb_imatrix_entry **mb_imatrix_sorted(const mb_imatrix *im);

#endif
