/* Shared between the GGUF reader, its value parser and the writer; not part
 * of the layer's API. */
#ifndef MB_FORMAT_GGUF_INTERNAL_H
#define MB_FORMAT_GGUF_INTERNAL_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "format/gguf.h"

#define MB_GGUF_MAGIC "GGUF"
#define MB_GGUF_DEFAULT_ALIGNMENT 32
/* Arrays of arrays recurse; a file may not nest them deeper than this, so a
 * hostile file cannot exhaust the stack. Real files use one level. */
#define MB_GGUF_MAX_DEPTH 8
#define MB_GGUF_MAX_DIMS 4

/* A read position inside a buffer. Messages name c->pos as "byte N". */
typedef struct {
    const uint8_t *data;
    uint64_t size;
    uint64_t pos;
} mb_gguf_cursor;

static inline uint16_t mb_le16(const uint8_t *p) {
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}
static inline uint32_t mb_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t mb_le64(const uint8_t *p) {
    return (uint64_t)mb_le32(p) | (uint64_t)mb_le32(p + 4) << 32;
}

/* double -> float without undefined behaviour: C leaves the conversion of a
 * value beyond FLT_MAX undefined, so saturate to infinity as IEEE would. */
static inline float mb_f64_to_f32(double d) {
    if (d > FLT_MAX) return INFINITY;
    if (d < -FLT_MAX) return -INFINITY;
    return (float)d;
}

/* Bytes of one element of a scalar type; 0 for STR, ARR and unknown ids. */
uint32_t mb_gguf_scalar_size(uint32_t type);

/* Each fails with MB_ERR_FORMAT ("byte N: ...") if the buffer is too short;
 * WHAT names the field in the message. */
mb_status mb_gguf_read_u32(mb_gguf_cursor *c, uint32_t *out, const char *what);
mb_status mb_gguf_read_u64(mb_gguf_cursor *c, uint64_t *out, const char *what);
mb_status mb_gguf_read_str(mb_gguf_cursor *c, mb_str *out, const char *what);

/* Parse one value of TYPE (read by the caller) at c->pos. Strings and scalar
 * array elements point into the buffer; string and nested arrays are
 * allocated. On failure *out is still safe to free. */
mb_status mb_gguf_read_value(mb_gguf_cursor *c, uint32_t type, mb_gguf_value *out);

/* Free what a value owns. OWNS_BYTES: the writer's deep copies also own their
 * string bytes and scalar array bytes; the reader's point into the file. */
void mb_gguf_value_free(mb_gguf_value *v, bool owns_bytes);

/* Deep copy SRC into *DST (owning everything), checking it is well formed:
 * known types, scalars in range, depth within the limit. */
mb_status mb_gguf_value_copy(mb_gguf_value *dst, const mb_gguf_value *src);

/* Encode a scalar value (U8..F64, BOOL) as little-endian bytes in OUT[8];
 * returns the byte count. */
uint32_t mb_gguf_scalar_encode(const mb_gguf_value *v, uint8_t out[8]);

/* Validate a tensor's type and shape and compute its byte size. Messages
 * start with "tensor 'NAME': ". */
mb_status mb_gguf_tensor_size(const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne,
                              uint64_t *nbytes);

/* True for a name like "model-00001-of-00003.gguf". */
bool mb_gguf_is_split_name(const char *path);

#endif
