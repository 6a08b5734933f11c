/* The public read-only view of an open GGUF file (include/matchbox/gguf.h):
 * accessors over the reader's tables, so apps see handles and never the
 * reader's structs, which stay free to change. */
#include <stddef.h>

#include "format/gguf.h"
#include "tensor/types.h"

uint32_t mb_gguf_version(const mb_gguf *g) {
    return g->version;
}
uint64_t mb_gguf_alignment(const mb_gguf *g) {
    return g->alignment;
}
uint64_t mb_gguf_data_offset(const mb_gguf *g) {
    return g->data_offset;
}

uint64_t mb_gguf_n_kv(const mb_gguf *g) {
    return g->n_kv;
}
const char *mb_gguf_kv_key(const mb_gguf *g, uint64_t i) {
    return i < g->n_kv ? g->kv[i].key : NULL;
}
const mb_gguf_value *mb_gguf_kv_value(const mb_gguf *g, uint64_t i) {
    return i < g->n_kv ? &g->kv[i].value : NULL;
}
const mb_gguf_value *mb_gguf_find_value(const mb_gguf *g, const char *key) {
    const mb_gguf_kv *kv = mb_gguf_find_kv(g, key);
    return kv ? &kv->value : NULL;
}

mb_gguf_type mb_gguf_value_type(const mb_gguf_value *v) {
    return (mb_gguf_type)v->type;
}

static int is_unsigned(uint32_t t) {
    return t == MB_GGUF_U8 || t == MB_GGUF_U16 || t == MB_GGUF_U32 || t == MB_GGUF_U64 ||
           t == MB_GGUF_BOOL;
}
static int is_signed(uint32_t t) {
    return t == MB_GGUF_I8 || t == MB_GGUF_I16 || t == MB_GGUF_I32 || t == MB_GGUF_I64;
}

uint64_t mb_gguf_value_u64(const mb_gguf_value *v) {
    return is_unsigned(v->type) ? v->u64 : 0;
}
int64_t mb_gguf_value_i64(const mb_gguf_value *v) {
    return is_signed(v->type) ? v->i64 : 0;
}
double mb_gguf_value_f64(const mb_gguf_value *v) {
    return v->type == MB_GGUF_F32 || v->type == MB_GGUF_F64 ? v->f64 : 0.0;
}
const char *mb_gguf_value_str(const mb_gguf_value *v, uint64_t *len) {
    const int ok = v->type == MB_GGUF_STR;
    if (len) *len = ok ? v->str.len : 0;
    return ok ? v->str.ptr : NULL;
}

mb_gguf_type mb_gguf_arr_type(const mb_gguf_value *arr) {
    return arr->type == MB_GGUF_ARR ? (mb_gguf_type)arr->arr.type : MB_GGUF_TYPE_COUNT;
}
uint64_t mb_gguf_arr_n(const mb_gguf_value *arr) {
    return arr->type == MB_GGUF_ARR ? arr->arr.n : 0;
}
const char *mb_gguf_arr_str(const mb_gguf_value *arr, uint64_t i, uint64_t *len) {
    const int ok = arr->type == MB_GGUF_ARR && arr->arr.type == MB_GGUF_STR && i < arr->arr.n;
    if (len) *len = ok ? arr->arr.strs[i].len : 0;
    return ok ? arr->arr.strs[i].ptr : NULL;
}
const mb_gguf_value *mb_gguf_arr_item(const mb_gguf_value *arr, uint64_t i) {
    const int ok = arr->type == MB_GGUF_ARR && arr->arr.type == MB_GGUF_ARR && i < arr->arr.n;
    return ok ? &arr->arr.items[i] : NULL;
}

uint64_t mb_gguf_n_tensors(const mb_gguf *g) {
    return g->n_tensors;
}
const mb_gguf_tensor *mb_gguf_tensor_at(const mb_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

/* The tensor type table lives in the tensor layer; these name it for apps. */
const char *mb_gguf_tensor_type_name(uint32_t type) {
    return mb_type_name(type);
}
int mb_gguf_tensor_type_from_name(const char *name) {
    return mb_type_from_name(name);
}
int mb_gguf_tensor_type_bytes(uint32_t type, uint64_t n_elements, uint64_t *bytes) {
    uint64_t n;
    if (!mb_type_row_bytes(type, n_elements, &n)) return 0;
    *bytes = n;
    return 1;
}
