/* A GGUF v3 image built byte by byte: header, then key-values only (no
 * tensors), as a vocab-only file. The tests build these by hand rather than
 * through the real writer because test_tokenizer_gguf needs malformed files
 * (keys missing, of the wrong type, arrays of the wrong length) that the
 * writer refuses to write, and the tokenizer tests need nothing more than a
 * few key-values. The tests run little-endian, as GGUF is. */
#ifndef MB_TEST_UTIL_GGUF_RAW_H
#define MB_TEST_UTIL_GGUF_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv;
} mbt_gbuf;

/* The header with zero tensors; the key-value count is patched by
 * mbt_gbuf_end, which also pads the image to 32 bytes. The image is b.p
 * (b.n bytes); free() it. */
mbt_gbuf mbt_gbuf_begin(void);
void mbt_gbuf_end(mbt_gbuf *b);

/* Raw bytes; aborts when out of memory. */
void mbt_gbuf_put(mbt_gbuf *b, const void *d, size_t n);
void mbt_gbuf_put_u32(mbt_gbuf *b, uint32_t v);
void mbt_gbuf_put_u64(mbt_gbuf *b, uint64_t v);
void mbt_gbuf_put_str(mbt_gbuf *b, const char *s);
/* A key and its type (an mb_gguf_type); the value is the caller's to put. */
void mbt_gbuf_key(mbt_gbuf *b, const char *k, uint32_t type);

void mbt_gbuf_kv_str(mbt_gbuf *b, const char *k, const char *v);
void mbt_gbuf_kv_u32(mbt_gbuf *b, const char *k, uint32_t v);
void mbt_gbuf_kv_i32(mbt_gbuf *b, const char *k, int32_t v);
void mbt_gbuf_kv_bool(mbt_gbuf *b, const char *k, bool v);
/* An array of N strings (ELEM MB_GGUF_STR, DATA a const char *const *), or
 * of N 4-byte numbers (ELEM MB_GGUF_I32/U32/F32). */
void mbt_gbuf_kv_arr(mbt_gbuf *b, const char *k, uint32_t elem, const void *data, size_t n);

#endif
