#include "util_gguf_raw.h"

#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

void mbt_gbuf_put(mbt_gbuf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        uint8_t *p = realloc(b->p, b->cap);
        if (!p) abort();
        b->p = p;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

void mbt_gbuf_put_u32(mbt_gbuf *b, uint32_t v) {
    mbt_gbuf_put(b, &v, 4);
}

void mbt_gbuf_put_u64(mbt_gbuf *b, uint64_t v) {
    mbt_gbuf_put(b, &v, 8);
}

void mbt_gbuf_put_str(mbt_gbuf *b, const char *s) {
    mbt_gbuf_put_u64(b, strlen(s));
    mbt_gbuf_put(b, s, strlen(s));
}

void mbt_gbuf_key(mbt_gbuf *b, const char *k, uint32_t type) {
    mbt_gbuf_put_str(b, k);
    mbt_gbuf_put_u32(b, type);
    b->n_kv++;
}

mbt_gbuf mbt_gbuf_begin(void) {
    mbt_gbuf b = {0};
    mbt_gbuf_put(&b, "GGUF", 4);
    mbt_gbuf_put_u32(&b, 3);
    mbt_gbuf_put_u64(&b, 0); /* tensors */
    mbt_gbuf_put_u64(&b, 0); /* key-values, patched by mbt_gbuf_end */
    return b;
}

void mbt_gbuf_end(mbt_gbuf *b) {
    memcpy(b->p + 16, &b->n_kv, 8);
    while (b->n % 32)
        mbt_gbuf_put(b, "", 1);
}

void mbt_gbuf_kv_str(mbt_gbuf *b, const char *k, const char *v) {
    mbt_gbuf_key(b, k, MB_GGUF_STR);
    mbt_gbuf_put_str(b, v);
}

void mbt_gbuf_kv_u32(mbt_gbuf *b, const char *k, uint32_t v) {
    mbt_gbuf_key(b, k, MB_GGUF_U32);
    mbt_gbuf_put_u32(b, v);
}

void mbt_gbuf_kv_i32(mbt_gbuf *b, const char *k, int32_t v) {
    mbt_gbuf_key(b, k, MB_GGUF_I32);
    mbt_gbuf_put(b, &v, 4);
}

void mbt_gbuf_kv_bool(mbt_gbuf *b, const char *k, bool v) {
    mbt_gbuf_key(b, k, MB_GGUF_BOOL);
    uint8_t x = v;
    mbt_gbuf_put(b, &x, 1);
}

void mbt_gbuf_kv_arr(mbt_gbuf *b, const char *k, uint32_t elem, const void *data, size_t n) {
    mbt_gbuf_key(b, k, MB_GGUF_ARR);
    mbt_gbuf_put_u32(b, elem);
    mbt_gbuf_put_u64(b, n);
    if (elem == MB_GGUF_STR)
        for (size_t i = 0; i < n; i++)
            mbt_gbuf_put_str(b, ((const char *const *)data)[i]);
    else
        mbt_gbuf_put(b, data, n * 4);
}
