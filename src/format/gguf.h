/* GGUF reader (zero-copy over a file map) and atomic writer.
 *
 * Spec: versions 2 and 3, little-endian. Every count, length, dimension and
 * offset read from the file is checked against the file size, with overflow
 * checks, before it is used; errors name the problem and the byte offset. */
#ifndef MB_FORMAT_GGUF_H
#define MB_FORMAT_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/file_map.h"
#include "matchbox.h"
#include "matchbox/gguf.h"

/* A string inside the file: not NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} mb_str;

/* The definition behind the public handle (matchbox/gguf.h). */
struct mb_gguf_value {
    uint32_t type; /* mb_gguf_type */
    union {
        uint64_t u64; /* U8..U64 and BOOL, zero-extended */
        int64_t i64;  /* I8..I64, sign-extended */
        double f64;   /* F32, F64 */
        mb_str str;
        struct {
            uint32_t type; /* element type */
            uint64_t n;
            const uint8_t *raw;   /* scalar elements, packed little-endian, maybe unaligned */
            mb_str *strs;         /* STR elements (n of them), owned by the reader */
            mb_gguf_value *items; /* ARR elements (nested arrays), owned by the reader */
        } arr;
    };
};

typedef struct {
    char *key; /* NUL-terminated copy */
    mb_gguf_value value;
} mb_gguf_kv;

struct mb_gguf {
    mb_file_map map; /* owned when opened from a path */
    int owns_map;
    uint32_t version;
    uint64_t n_kv;
    mb_gguf_kv *kv;
    uint64_t n_tensors;
    mb_gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset; /* aligned start of the tensor data */
};

/* mb_gguf_open, mb_gguf_close, the tensor table and value accessors are
 * public: include/matchbox/gguf.h. */
/* Parse a buffer the caller keeps alive (fuzzing, tests). NAME is used in messages. */
mb_status mb_gguf_parse(const uint8_t *data, uint64_t size, const char *name, mb_gguf **out);

const mb_gguf_kv *mb_gguf_find_kv(const mb_gguf *g, const char *key);

/* Typed getters. Integer getters accept any integer type whose value fits.
 * A type mismatch returns MB_ERR_FORMAT with a message naming the key; a
 * missing key returns MB_ERR_INVALID_ARG ("key not found"), so callers can
 * fall back to a default. */
mb_status mb_gguf_get_u32(const mb_gguf *g, const char *key, uint32_t *out);
mb_status mb_gguf_get_i64(const mb_gguf *g, const char *key, int64_t *out);
mb_status mb_gguf_get_f32(const mb_gguf *g, const char *key, float *out);
mb_status mb_gguf_get_bool(const mb_gguf *g, const char *key, bool *out);
mb_status mb_gguf_get_str(const mb_gguf *g, const char *key, mb_str *out);
/* An array value (any element type). */
mb_status mb_gguf_get_arr(const mb_gguf *g, const char *key, const mb_gguf_value **out);

/* ---- writer ---------------------------------------------------------- */

typedef struct mb_gguf_writer mb_gguf_writer;

mb_status mb_gguf_writer_new(mb_gguf_writer **out);
void mb_gguf_writer_free(mb_gguf_writer *w);
/* Keys are copied. Setting a key twice replaces its value. */
mb_status mb_gguf_writer_set_u32(mb_gguf_writer *w, const char *key, uint32_t v);
mb_status mb_gguf_writer_set_i32(mb_gguf_writer *w, const char *key, int32_t v);
mb_status mb_gguf_writer_set_u64(mb_gguf_writer *w, const char *key, uint64_t v);
mb_status mb_gguf_writer_set_f32(mb_gguf_writer *w, const char *key, float v);
mb_status mb_gguf_writer_set_bool(mb_gguf_writer *w, const char *key, bool v);
mb_status mb_gguf_writer_set_str(mb_gguf_writer *w, const char *key, const char *v);
/* Arrays of scalars: N elements of ELEM_TYPE packed in DATA (copied). */
mb_status mb_gguf_writer_set_arr(mb_gguf_writer *w, const char *key, uint32_t elem_type,
                                 const void *data, uint64_t n);
mb_status mb_gguf_writer_set_arr_str(mb_gguf_writer *w, const char *key, const char *const *v,
                                     uint64_t n);
/* Copy a value read from another file (any type, nested arrays included). */
mb_status mb_gguf_writer_set_value(mb_gguf_writer *w, const char *key, const mb_gguf_value *v);
/* DATA (nbytes, which must match type and shape) is referenced, not copied:
 * keep it alive until mb_gguf_writer_write returns. */
mb_status mb_gguf_writer_add_tensor(mb_gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const uint64_t *ne, const void *data,
                                    uint64_t nbytes);
/* Produces tensor INDEX's NBYTES bytes into DST at write time. A status
 * other than MB_OK (with its message set) aborts the write. */
typedef mb_status (*mb_gguf_tensor_fill_fn)(void *user, uint64_t index, void *dst, uint64_t nbytes);
/* As mb_gguf_writer_add_tensor, but the bytes are made by FILL while the file
 * is written, one tensor at a time, so a writer of a large model holds only
 * one tensor's bytes. INDEX counts the tensors added, from 0. */
mb_status mb_gguf_writer_add_tensor_cb(mb_gguf_writer *w, const char *name, uint32_t type,
                                       uint32_t n_dims, const uint64_t *ne,
                                       mb_gguf_tensor_fill_fn fill, void *user);
/* Write version 3 with general.alignment (default 32) to PATH atomically: a
 * temp file in the same directory, fsync, rename (matchbox/files.h). A PATH
 * that exists and is no regular file is refused first. On failure PATH is
 * untouched and the temp file removed. */
mb_status mb_gguf_writer_write(mb_gguf_writer *w, const char *path);

#endif
