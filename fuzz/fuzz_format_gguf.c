/* libFuzzer target for the GGUF reader: any input must parse or fail with a
 * message, never crash, and every pointer a successful parse hands out must
 * be readable (ASan checks each byte touched here). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "format/gguf.h"

static volatile uint64_t sink;

static uint64_t touch_str(mb_str s) {
    return s.len ? (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1] + s.len : 0;
}

/* Doubles are hashed by their bits: converting NaN or a huge value to an
 * integer would be undefined behaviour in the target itself. */
static uint64_t f64_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static uint64_t touch_value(const mb_gguf_value *v) {
    uint64_t h = v->type;
    if (v->type == MB_GGUF_STR) return h + touch_str(v->str);
    if (v->type != MB_GGUF_ARR) return h + v->u64;
    h += v->arr.type + v->arr.n;
    for (uint64_t i = 0; i < v->arr.n; i++) {
        if (v->arr.type == MB_GGUF_STR)
            h += touch_str(v->arr.strs[i]);
        else if (v->arr.type == MB_GGUF_ARR)
            h += touch_value(&v->arr.items[i]);
        else
            h += (uint64_t)mb_gguf_arr_i64(v, i) + f64_bits(mb_gguf_arr_f64(v, i));
    }
    return h;
}

/* The same walk through the public accessors (matchbox/gguf.h), which must
 * agree with the structs they read. */
static uint64_t touch_public(const mb_gguf_value *v, int depth) {
    uint64_t len = 0, h = mb_gguf_value_type(v);
    const char *s = mb_gguf_value_str(v, &len);
    if (s && len) h += (uint8_t)s[0] + (uint8_t)s[len - 1];
    h += mb_gguf_value_u64(v) + (uint64_t)mb_gguf_value_i64(v) + f64_bits(mb_gguf_value_f64(v));
    const uint64_t n = mb_gguf_arr_n(v);
    if (n != (v->type == MB_GGUF_ARR ? v->arr.n : 0)) __builtin_trap();
    for (uint64_t i = 0; i < n && depth < 16; i++) {
        const mb_gguf_value *item = mb_gguf_arr_item(v, i);
        if (item) h += touch_public(item, depth + 1);
        s = mb_gguf_arr_str(v, i, &len);
        if (s && len) h += (uint8_t)s[len - 1];
        h += (uint64_t)mb_gguf_arr_i64(v, i);
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_gguf *g = NULL;
    if (mb_gguf_parse(data, size, "fuzz", &g) != MB_OK) return 0;
    uint64_t h = g->version + g->alignment + g->data_offset;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        h += strlen(g->kv[i].key) + touch_value(&g->kv[i].value);
        h += touch_public(mb_gguf_kv_value(g, i), 0) + strlen(mb_gguf_kv_key(g, i));
        if (mb_gguf_find_value(g, g->kv[i].key) == NULL) __builtin_trap();
        if (mb_gguf_find_kv(g, g->kv[i].key) == NULL) __builtin_trap();
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        h += strlen(t->name) + t->n_dims + t->ne[0] + t->ne[3] + t->type + t->offset;
        /* First and last byte: the whole range must lie inside the input. */
        h += t->data[0] + t->data[t->nbytes - 1];
        if (mb_gguf_find_tensor(g, t->name) != t) __builtin_trap();
        if (mb_gguf_tensor_at(g, i) != t) __builtin_trap();
        h += strlen(mb_gguf_tensor_type_name(t->type));
    }
    uint32_t u;
    mb_str s;
    if (mb_gguf_get_u32(g, "general.alignment", &u) == MB_OK) h += u;
    if (mb_gguf_get_str(g, "general.architecture", &s) == MB_OK) h += touch_str(s);
    sink = h;
    mb_gguf_close(g);
    return 0;
}
