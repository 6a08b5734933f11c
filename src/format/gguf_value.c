/* GGUF metadata values: parsing from a buffer, deep copies for the writer,
 * and element access. Everything here trusts nothing it reads: each count is
 * compared with the bytes left before anything is allocated for it. */
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "format/gguf_internal.h"

/* The smallest encodings, used to bound counts before allocating: a string
 * is at least its u64 length; a nested array at least its type and count. */
enum { MIN_STR_BYTES = 8, MIN_ARR_BYTES = 12 };

static const struct {
    const char *name;
    uint32_t size;
} value_types[MB_GGUF_TYPE_COUNT] = {
    [MB_GGUF_U8] = {"u8", 1},   [MB_GGUF_I8] = {"i8", 1},     [MB_GGUF_U16] = {"u16", 2},
    [MB_GGUF_I16] = {"i16", 2}, [MB_GGUF_U32] = {"u32", 4},   [MB_GGUF_I32] = {"i32", 4},
    [MB_GGUF_F32] = {"f32", 4}, [MB_GGUF_BOOL] = {"bool", 1}, [MB_GGUF_STR] = {"str", 0},
    [MB_GGUF_ARR] = {"arr", 0}, [MB_GGUF_U64] = {"u64", 8},   [MB_GGUF_I64] = {"i64", 8},
    [MB_GGUF_F64] = {"f64", 8},
};

const char *mb_gguf_type_name(uint32_t type) {
    return type < MB_GGUF_TYPE_COUNT ? value_types[type].name : "unknown";
}

uint32_t mb_gguf_scalar_size(uint32_t type) {
    return type < MB_GGUF_TYPE_COUNT ? value_types[type].size : 0;
}

static bool is_float(uint32_t type) {
    return type == MB_GGUF_F32 || type == MB_GGUF_F64;
}
static bool is_signed(uint32_t type) {
    return type == MB_GGUF_I8 || type == MB_GGUF_I16 || type == MB_GGUF_I32 || type == MB_GGUF_I64;
}

/* ---- cursor ---------------------------------------------------------- */

static mb_status need(const mb_gguf_cursor *c, uint64_t n, const char *what) {
    uint64_t left = c->size - c->pos;
    if (n <= left) return MB_OK;
    return mb_errorf(
        MB_ERR_FORMAT, "byte %llu: truncated: %s needs %llu bytes, only %llu left in the file",
        (unsigned long long)c->pos, what, (unsigned long long)n, (unsigned long long)left);
}

mb_status mb_gguf_read_u32(mb_gguf_cursor *c, uint32_t *out, const char *what) {
    mb_status st = need(c, 4, what);
    if (st != MB_OK) return st;
    *out = mb_le32(c->data + c->pos);
    c->pos += 4;
    return MB_OK;
}

mb_status mb_gguf_read_u64(mb_gguf_cursor *c, uint64_t *out, const char *what) {
    mb_status st = need(c, 8, what);
    if (st != MB_OK) return st;
    *out = mb_le64(c->data + c->pos);
    c->pos += 8;
    return MB_OK;
}

mb_status mb_gguf_read_str(mb_gguf_cursor *c, mb_str *out, const char *what) {
    uint64_t at = c->pos, len;
    mb_status st = mb_gguf_read_u64(c, &len, what);
    if (st != MB_OK) return st;
    if (len > c->size - c->pos) {
        return mb_errorf(MB_ERR_FORMAT,
                         "byte %llu: %s length %llu exceeds the %llu bytes left in the file",
                         (unsigned long long)at, what, (unsigned long long)len,
                         (unsigned long long)(c->size - c->pos));
    }
    out->ptr = (const char *)c->data + c->pos;
    out->len = len;
    c->pos += len;
    return MB_OK;
}

/* ---- scalars --------------------------------------------------------- */

static mb_gguf_value scalar_decode(uint32_t type, const uint8_t *p) {
    mb_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    switch (type) {
    case MB_GGUF_U8:
    case MB_GGUF_BOOL: v.u64 = p[0]; break;
    case MB_GGUF_I8: v.i64 = (int8_t)p[0]; break;
    case MB_GGUF_U16: v.u64 = mb_le16(p); break;
    case MB_GGUF_I16: v.i64 = (int16_t)mb_le16(p); break;
    case MB_GGUF_U32: v.u64 = mb_le32(p); break;
    case MB_GGUF_I32: v.i64 = (int32_t)mb_le32(p); break;
    case MB_GGUF_U64: v.u64 = mb_le64(p); break;
    case MB_GGUF_I64: v.i64 = (int64_t)mb_le64(p); break;
    case MB_GGUF_F32: {
        uint32_t bits = mb_le32(p);
        float f;
        memcpy(&f, &bits, sizeof f);
        v.f64 = f;
        break;
    }
    case MB_GGUF_F64: {
        uint64_t bits = mb_le64(p);
        memcpy(&v.f64, &bits, sizeof v.f64);
        break;
    }
    default: break;
    }
    return v;
}

uint32_t mb_gguf_scalar_encode(const mb_gguf_value *v, uint8_t out[8]) {
    uint32_t size = mb_gguf_scalar_size(v->type);
    uint64_t bits = v->u64; /* integers: the low bytes, two's complement */
    if (v->type == MB_GGUF_F32) {
        float f = mb_f64_to_f32(v->f64);
        uint32_t b32;
        memcpy(&b32, &f, sizeof b32);
        bits = b32;
    } else if (v->type == MB_GGUF_F64) {
        memcpy(&bits, &v->f64, sizeof bits);
    }
    for (uint32_t i = 0; i < size; i++)
        out[i] = (uint8_t)(bits >> (8 * i));
    return size;
}

/* ---- parsing --------------------------------------------------------- */

static mb_status read_array(mb_gguf_cursor *c, mb_gguf_value *out, int depth);

static mb_status read_scalar_array(mb_gguf_cursor *c, mb_gguf_value *out) {
    uint64_t at = c->pos, bytes;
    uint32_t size = mb_gguf_scalar_size(out->arr.type);
    if (!mb_mul_u64(out->arr.n, size, &bytes) || bytes > c->size - c->pos) {
        return mb_errorf(MB_ERR_FORMAT,
                         "byte %llu: array of %llu %s elements exceeds the %llu bytes left in "
                         "the file",
                         (unsigned long long)at, (unsigned long long)out->arr.n,
                         mb_gguf_type_name(out->arr.type), (unsigned long long)(c->size - c->pos));
    }
    out->arr.raw = c->data + c->pos;
    if (out->arr.type == MB_GGUF_BOOL) {
        for (uint64_t i = 0; i < bytes; i++) {
            if (out->arr.raw[i] > 1)
                return mb_errorf(MB_ERR_FORMAT, "byte %llu: bool element %llu is %u, not 0 or 1",
                                 (unsigned long long)(at + i), (unsigned long long)i,
                                 out->arr.raw[i]);
        }
    }
    c->pos += bytes;
    return MB_OK;
}

static mb_status too_many(const mb_gguf_cursor *c, uint64_t at, uint64_t n, const char *what) {
    return mb_errorf(MB_ERR_FORMAT, "byte %llu: array of %llu %s cannot fit in the %llu bytes left",
                     (unsigned long long)at, (unsigned long long)n, what,
                     (unsigned long long)(c->size - c->pos));
}

static mb_status read_string_array(mb_gguf_cursor *c, mb_gguf_value *out) {
    uint64_t n = out->arr.n;
    if (n > (c->size - c->pos) / MIN_STR_BYTES) return too_many(c, c->pos, n, "strings");
    if (n == 0) return MB_OK;
    out->arr.strs = calloc(n, sizeof *out->arr.strs);
    if (!out->arr.strs)
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate %llu strings", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        mb_status st = mb_gguf_read_str(c, &out->arr.strs[i], "array string");
        if (st != MB_OK)
            return mb_error_prefix(st, "string %llu of %llu", (unsigned long long)i,
                                   (unsigned long long)n);
    }
    return MB_OK;
}

static mb_status read_nested_array(mb_gguf_cursor *c, mb_gguf_value *out, int depth) {
    uint64_t n = out->arr.n;
    if (n > (c->size - c->pos) / MIN_ARR_BYTES) return too_many(c, c->pos, n, "arrays");
    if (n == 0) return MB_OK;
    /* calloc: unread items stay type 0 (a scalar), so a partial array frees cleanly. */
    out->arr.items = calloc(n, sizeof *out->arr.items);
    if (!out->arr.items)
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate %llu arrays", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        out->arr.items[i].type = MB_GGUF_ARR;
        /* No per-level prefix: the byte offset already says where, and a
         * deep failure would otherwise repeat "array 0 of 1" at every level. */
        mb_status st = read_array(c, &out->arr.items[i], depth + 1);
        if (st != MB_OK) return st;
    }
    return MB_OK;
}

/* An array body: element type, count, elements. DEPTH counts the arrays
 * around this one, so a top-level array has depth 1. */
static mb_status read_array(mb_gguf_cursor *c, mb_gguf_value *out, int depth) {
    uint64_t at = c->pos;
    mb_status st = mb_gguf_read_u32(c, &out->arr.type, "array element type");
    if (st == MB_OK) st = mb_gguf_read_u64(c, &out->arr.n, "array length");
    if (st != MB_OK) {
        out->arr.type = MB_GGUF_U8; /* nothing was allocated: keep free() a no-op */
        out->arr.n = 0;
        return st;
    }
    uint32_t et = out->arr.type;
    if (et >= MB_GGUF_TYPE_COUNT) {
        out->arr.type = MB_GGUF_U8;
        out->arr.n = 0;
        return mb_errorf(MB_ERR_FORMAT, "byte %llu: array has unknown element type %u",
                         (unsigned long long)at, et);
    }
    if (et == MB_GGUF_ARR && depth >= MB_GGUF_MAX_DEPTH) {
        out->arr.n = 0;
        return mb_errorf(MB_ERR_FORMAT, "byte %llu: arrays nested more than %d deep",
                         (unsigned long long)at, MB_GGUF_MAX_DEPTH);
    }
    if (et == MB_GGUF_STR) return read_string_array(c, out);
    if (et == MB_GGUF_ARR) return read_nested_array(c, out, depth);
    return read_scalar_array(c, out);
}

mb_status mb_gguf_read_value(mb_gguf_cursor *c, uint32_t type, mb_gguf_value *out) {
    memset(out, 0, sizeof *out);
    out->type = type;
    if (type == MB_GGUF_STR) return mb_gguf_read_str(c, &out->str, "string");
    if (type == MB_GGUF_ARR) return read_array(c, out, 1);
    uint32_t size = mb_gguf_scalar_size(type);
    if (size == 0) {
        out->type = MB_GGUF_U8;
        return mb_errorf(MB_ERR_FORMAT, "byte %llu: unknown value type %u",
                         (unsigned long long)c->pos, type);
    }
    mb_status st = need(c, size, mb_gguf_type_name(type));
    if (st != MB_OK) return st;
    *out = scalar_decode(type, c->data + c->pos);
    if (type == MB_GGUF_BOOL && out->u64 > 1) {
        return mb_errorf(MB_ERR_FORMAT, "byte %llu: bool value is %llu, not 0 or 1",
                         (unsigned long long)c->pos, (unsigned long long)out->u64);
    }
    c->pos += size;
    return MB_OK;
}

void mb_gguf_value_free(mb_gguf_value *v, bool owns_bytes) {
    if (v->type == MB_GGUF_STR && owns_bytes) free((void *)v->str.ptr);
    if (v->type != MB_GGUF_ARR) return;
    if (v->arr.type == MB_GGUF_STR) {
        for (uint64_t i = 0; owns_bytes && v->arr.strs && i < v->arr.n; i++)
            free((void *)v->arr.strs[i].ptr);
        free(v->arr.strs);
    } else if (v->arr.type == MB_GGUF_ARR) {
        for (uint64_t i = 0; v->arr.items && i < v->arr.n; i++)
            mb_gguf_value_free(&v->arr.items[i], owns_bytes);
        free(v->arr.items);
    } else if (owns_bytes) {
        free((void *)v->arr.raw);
    }
    memset(v, 0, sizeof *v);
}

/* ---- deep copies (writer) ------------------------------------------- */

static mb_status copy_str(mb_str *dst, const mb_str *src) {
    if (!src->ptr && src->len > 0)
        return mb_errorf(MB_ERR_INVALID_ARG, "string of length %llu has no bytes",
                         (unsigned long long)src->len);
    if (src->len >= SIZE_MAX) return mb_errorf(MB_ERR_NO_MEMORY, "string too long");
    char *p = malloc((size_t)src->len + 1);
    if (!p)
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot copy a string of %llu bytes",
                         (unsigned long long)src->len);
    if (src->len) memcpy(p, src->ptr, (size_t)src->len);
    p[src->len] = '\0';
    dst->ptr = p;
    dst->len = src->len;
    return MB_OK;
}

/* A scalar must fit the type it will be written as, or the writer would
 * silently store a different number. */
static mb_status check_scalar(const mb_gguf_value *v) {
    static const uint64_t umax[] = {[MB_GGUF_U8] = UINT8_MAX,
                                    [MB_GGUF_U16] = UINT16_MAX,
                                    [MB_GGUF_U32] = UINT32_MAX,
                                    [MB_GGUF_BOOL] = 1};
    static const int64_t smax[] = {
        [MB_GGUF_I8] = INT8_MAX, [MB_GGUF_I16] = INT16_MAX, [MB_GGUF_I32] = INT32_MAX};
    uint32_t t = v->type;
    bool ok = true;
    if (t == MB_GGUF_U8 || t == MB_GGUF_U16 || t == MB_GGUF_U32 || t == MB_GGUF_BOOL)
        ok = v->u64 <= umax[t];
    else if (t == MB_GGUF_I8 || t == MB_GGUF_I16 || t == MB_GGUF_I32)
        ok = v->i64 <= smax[t] && v->i64 >= -smax[t] - 1;
    if (ok) return MB_OK;
    if (is_signed(t))
        return mb_errorf(MB_ERR_INVALID_ARG, "value %lld does not fit in %s", (long long)v->i64,
                         mb_gguf_type_name(t));
    return mb_errorf(MB_ERR_INVALID_ARG, "value %llu does not fit in %s",
                     (unsigned long long)v->u64, mb_gguf_type_name(t));
}

static mb_status copy_array(mb_gguf_value *dst, const mb_gguf_value *src, int depth) {
    uint32_t et = src->arr.type;
    uint64_t n = src->arr.n;
    if (et >= MB_GGUF_TYPE_COUNT)
        return mb_errorf(MB_ERR_INVALID_ARG, "array has unknown element type %u", et);
    if (et == MB_GGUF_ARR && depth >= MB_GGUF_MAX_DEPTH)
        return mb_errorf(MB_ERR_INVALID_ARG, "arrays nested more than %d deep", MB_GGUF_MAX_DEPTH);
    dst->arr.type = et;
    if (et == MB_GGUF_STR || et == MB_GGUF_ARR) {
        const void *elems = et == MB_GGUF_STR ? (const void *)src->arr.strs : src->arr.items;
        if (n > 0 && !elems)
            return mb_errorf(MB_ERR_INVALID_ARG, "array of %llu elements has no elements",
                             (unsigned long long)n);
        if (n == 0) return MB_OK;
        size_t each = et == MB_GGUF_STR ? sizeof(mb_str) : sizeof(mb_gguf_value);
        void *p = n <= SIZE_MAX / each ? calloc((size_t)n, each) : NULL;
        if (!p)
            return mb_errorf(MB_ERR_NO_MEMORY, "cannot copy an array of %llu elements",
                             (unsigned long long)n);
        if (et == MB_GGUF_STR)
            dst->arr.strs = p;
        else
            dst->arr.items = p;
        dst->arr.n = n;
        for (uint64_t i = 0; i < n; i++) {
            mb_status st;
            if (et == MB_GGUF_STR) {
                st = copy_str(&dst->arr.strs[i], &src->arr.strs[i]);
            } else if (src->arr.items[i].type != MB_GGUF_ARR) {
                st = mb_errorf(MB_ERR_INVALID_ARG, "element %llu of an array of arrays has type %s",
                               (unsigned long long)i, mb_gguf_type_name(src->arr.items[i].type));
            } else {
                dst->arr.items[i].type = MB_GGUF_ARR;
                st = copy_array(&dst->arr.items[i], &src->arr.items[i], depth + 1);
            }
            if (st != MB_OK) return st;
        }
        return MB_OK;
    }
    uint64_t bytes;
    if (!mb_mul_u64(n, mb_gguf_scalar_size(et), &bytes) || bytes >= SIZE_MAX)
        return mb_errorf(MB_ERR_INVALID_ARG, "array of %llu %s is too large", (unsigned long long)n,
                         mb_gguf_type_name(et));
    if (n > 0 && !src->arr.raw)
        return mb_errorf(MB_ERR_INVALID_ARG, "array of %llu %s has no data", (unsigned long long)n,
                         mb_gguf_type_name(et));
    for (uint64_t i = 0; et == MB_GGUF_BOOL && i < n; i++) {
        if (src->arr.raw[i] > 1)
            return mb_errorf(MB_ERR_INVALID_ARG, "bool element %llu is %u, not 0 or 1",
                             (unsigned long long)i, src->arr.raw[i]);
    }
    uint8_t *raw = malloc(bytes ? (size_t)bytes : 1);
    if (!raw)
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot copy an array of %llu bytes",
                         (unsigned long long)bytes);
    if (bytes) memcpy(raw, src->arr.raw, (size_t)bytes);
    dst->arr.raw = raw;
    dst->arr.n = n;
    return MB_OK;
}

mb_status mb_gguf_value_copy(mb_gguf_value *dst, const mb_gguf_value *src) {
    memset(dst, 0, sizeof *dst);
    mb_status st;
    if (src->type >= MB_GGUF_TYPE_COUNT)
        return mb_errorf(MB_ERR_INVALID_ARG, "unknown value type %u", src->type);
    dst->type = src->type;
    if (src->type == MB_GGUF_STR) {
        st = copy_str(&dst->str, &src->str);
        if (st != MB_OK) dst->type = MB_GGUF_U8; /* nothing to free */
        return st;
    }
    if (src->type == MB_GGUF_ARR) {
        /* copy_array keeps dst freeable at every step, so a failure frees the partial copy. */
        st = copy_array(dst, src, 1);
        if (st != MB_OK) mb_gguf_value_free(dst, true);
        return st;
    }
    st = check_scalar(src);
    if (st == MB_OK) *dst = *src;
    return st;
}

/* ---- element access -------------------------------------------------- */

static bool scalar_at(const mb_gguf_value *arr, uint64_t i, mb_gguf_value *out) {
    if (!arr || arr->type != MB_GGUF_ARR || i >= arr->arr.n) return false;
    uint32_t size = mb_gguf_scalar_size(arr->arr.type);
    if (size == 0 || !arr->arr.raw) return false;
    *out = scalar_decode(arr->arr.type, arr->arr.raw + i * size);
    return true;
}

int64_t mb_gguf_arr_i64(const mb_gguf_value *arr, uint64_t i) {
    mb_gguf_value v;
    if (!scalar_at(arr, i, &v)) return 0;
    if (is_float(v.type)) {
        /* Out-of-range float-to-int conversion is undefined: clamp to 0. */
        return v.f64 >= -9.2233720368547758e18 && v.f64 < 9.2233720368547758e18 ? (int64_t)v.f64
                                                                                : 0;
    }
    if (is_signed(v.type)) return v.i64;
    return v.u64 > INT64_MAX ? 0 : (int64_t)v.u64;
}

double mb_gguf_arr_f64(const mb_gguf_value *arr, uint64_t i) {
    mb_gguf_value v;
    if (!scalar_at(arr, i, &v)) return 0.0;
    if (is_float(v.type)) return v.f64;
    if (is_signed(v.type)) return (double)v.i64;
    return (double)v.u64;
}
