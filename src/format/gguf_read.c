/* GGUF reader: validates the whole header up front, then hands out pointers
 * into the caller's buffer or the file map (zero-copy).
 *
 * Layout (versions 2 and 3, little-endian): magic "GGUF", u32 version,
 * u64 n_tensors, u64 n_kv, n_kv key-value pairs, n_tensors tensor infos,
 * padding to the alignment, then the data section that tensor offsets are
 * relative to. */
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "format/gguf_internal.h"
#include "tensor/sparse.h"
#include "tensor/types.h"

/* The smallest encodings, which bound the counts in the header: a key-value
 * pair is a length, a 1-byte key, a type and a 1-byte value; a tensor info is
 * a length, a 1-byte name, n_dims, one dimension, a type and an offset. */
enum { HEADER_BYTES = 24, MIN_KV_BYTES = 8 + 1 + 4 + 1, MIN_TENSOR_BYTES = 8 + 1 + 4 + 8 + 4 + 8 };

/* ---- duplicate detection --------------------------------------------- */

/* An open-addressing set of names, so duplicate checks stay linear on files
 * with many keys (a quadratic scan would let a small file stall the parser). */
typedef struct {
    const char **slots;
    uint64_t mask;
} name_set;

static uint64_t hash_name(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
    return h;
}

static mb_status name_set_init(name_set *set, uint64_t n) {
    uint64_t cap = 8;
    while (cap < 2 * n)
        cap *= 2; /* n is bounded by the file size: no overflow */
    set->slots =
        cap <= SIZE_MAX / sizeof *set->slots ? calloc((size_t)cap, sizeof *set->slots) : NULL;
    set->mask = cap - 1;
    if (!set->slots)
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate a table of %llu names",
                         (unsigned long long)n);
    return MB_OK;
}

/* Adds NAME; false if it was already there. */
static bool name_set_add(name_set *set, const char *name) {
    for (uint64_t i = hash_name(name) & set->mask;; i = (i + 1) & set->mask) {
        if (!set->slots[i]) {
            set->slots[i] = name;
            return true;
        }
        if (strcmp(set->slots[i], name) == 0) return false;
    }
}

/* ---- names and shapes ------------------------------------------------ */

/* Keys and tensor names become C strings: an embedded NUL would make two
 * different names compare equal, so it is refused. */
static mb_status copy_name(const mb_str *s, uint64_t at, const char *what, char **out) {
    if (s->len == 0)
        return mb_errorf(MB_ERR_FORMAT, "byte %llu: empty %s", (unsigned long long)at, what);
    if (memchr(s->ptr, 0, (size_t)s->len))
        return mb_errorf(MB_ERR_FORMAT, "byte %llu: %s '%.*s' contains a NUL byte",
                         (unsigned long long)at, what, (int)strnlen(s->ptr, 64), s->ptr);
    *out = malloc((size_t)s->len + 1);
    if (!*out) return mb_errorf(MB_ERR_NO_MEMORY, "cannot copy a %s", what);
    memcpy(*out, s->ptr, (size_t)s->len);
    (*out)[s->len] = '\0';
    return MB_OK;
}

mb_status mb_gguf_tensor_size(const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne,
                              uint64_t *nbytes) {
    if (n_dims < 1 || n_dims > MB_GGUF_MAX_DIMS)
        return mb_errorf(MB_ERR_FORMAT, "tensor '%s': n_dims %u is not in 1..%d", name, n_dims,
                         MB_GGUF_MAX_DIMS);
    uint64_t elems = 1, rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0) return mb_errorf(MB_ERR_FORMAT, "tensor '%s': dimension %u is 0", name, d);
        /* Element counts must fit int64_t, which the kernels index with. */
        if (!mb_mul_u64(elems, ne[d], &elems) || elems > INT64_MAX)
            return mb_errorf(MB_ERR_FORMAT,
                             "tensor '%s': element count overflows at dimension %u (%llu)", name, d,
                             (unsigned long long)ne[d]);
        if (d > 0) rows *= ne[d]; /* <= elems: cannot overflow */
    }
    const mb_type_traits *tt = mb_type_get(type);
    if (!tt)
        return mb_errorf(MB_ERR_UNSUPPORTED, "tensor '%s': unknown tensor type id %u", name, type);
    uint64_t row;
    if (ne[0] % tt->block_size != 0)
        return mb_errorf(MB_ERR_FORMAT,
                         "tensor '%s': row length %llu is not a multiple of the %s block size %u",
                         name, (unsigned long long)ne[0], tt->name, tt->block_size);
    if (!mb_type_row_bytes(type, ne[0], &row) || !mb_mul_u64(row, rows, nbytes))
        return mb_errorf(MB_ERR_FORMAT, "tensor '%s': byte size overflows", name);
    return MB_OK;
}

bool mb_gguf_is_split_name(const char *path) {
    static const char pat[] = "-#####-of-#####.gguf"; /* '#': a digit */
    size_t n = strlen(path), m = sizeof pat - 1;
    if (n < m) return false;
    const char *s = path + n - m;
    for (size_t i = 0; i < m; i++) {
        if (pat[i] == '#' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i]) return false;
    }
    return true;
}

/* ---- header, metadata, tensor infos ---------------------------------- */

static mb_status parse_header(mb_gguf_cursor *c, mb_gguf *g) {
    if (c->size < 4)
        return mb_errorf(MB_ERR_FORMAT, "file is %llu bytes, too small to be GGUF",
                         (unsigned long long)c->size);
    if (memcmp(c->data, MB_GGUF_MAGIC, 4) != 0)
        return mb_errorf(MB_ERR_FORMAT,
                         "not a GGUF file: starts with bytes %02x %02x %02x %02x, not 'GGUF'",
                         c->data[0], c->data[1], c->data[2], c->data[3]);
    c->pos = 4;
    mb_status st = mb_gguf_read_u32(c, &g->version, "version");
    if (st != MB_OK) return st;
    if (g->version == 1)
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "GGUF version 1 is not supported (only 2 and 3); re-convert the model "
                         "with a current converter");
    if (g->version == 0x02000000 || g->version == 0x03000000)
        return mb_errorf(MB_ERR_UNSUPPORTED, "big-endian GGUF files are not supported");
    if (g->version != 2 && g->version != 3)
        return mb_errorf(MB_ERR_UNSUPPORTED, "GGUF version %u is not supported (only 2 and 3)",
                         g->version);
    st = mb_gguf_read_u64(c, &g->n_tensors, "tensor count");
    if (st == MB_OK) st = mb_gguf_read_u64(c, &g->n_kv, "key-value count");
    if (st != MB_OK) return st;
    uint64_t left = c->size - c->pos;
    if (g->n_kv > left / MIN_KV_BYTES)
        return mb_errorf(MB_ERR_FORMAT,
                         "byte 16: key-value count %llu cannot fit in the %llu bytes after the "
                         "header",
                         (unsigned long long)g->n_kv, (unsigned long long)left);
    if (g->n_tensors > (left - g->n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return mb_errorf(MB_ERR_FORMAT,
                         "byte 8: tensor count %llu cannot fit in the %llu bytes after the header",
                         (unsigned long long)g->n_tensors, (unsigned long long)left);
    return MB_OK;
}

static mb_status parse_kv(mb_gguf_cursor *c, mb_gguf *g, uint64_t i, name_set *keys) {
    mb_gguf_kv *kv = &g->kv[i];
    uint64_t at = c->pos;
    mb_str key;
    uint32_t type;
    mb_status st = mb_gguf_read_str(c, &key, "key");
    if (st == MB_OK) st = copy_name(&key, at, "key", &kv->key);
    if (st != MB_OK)
        return mb_error_prefix(st, "key %llu of %llu", (unsigned long long)i,
                               (unsigned long long)g->n_kv);
    if (!name_set_add(keys, kv->key))
        return mb_errorf(MB_ERR_FORMAT, "key '%.200s': byte %llu: duplicate key", kv->key,
                         (unsigned long long)at);
    st = mb_gguf_read_u32(c, &type, "value type");
    if (st == MB_OK) st = mb_gguf_read_value(c, type, &kv->value);
    if (st != MB_OK) return mb_error_prefix(st, "key '%.200s'", kv->key);
    return MB_OK;
}

static mb_status parse_tensor_info(mb_gguf_cursor *c, mb_gguf *g, uint64_t i, name_set *names) {
    mb_gguf_tensor *t = &g->tensors[i];
    uint64_t at = c->pos;
    mb_str name;
    mb_status st = mb_gguf_read_str(c, &name, "tensor name");
    if (st == MB_OK) st = copy_name(&name, at, "tensor name", &t->name);
    if (st != MB_OK)
        return mb_error_prefix(st, "tensor %llu of %llu", (unsigned long long)i,
                               (unsigned long long)g->n_tensors);
    if (!name_set_add(names, t->name))
        return mb_errorf(MB_ERR_FORMAT, "tensor '%.200s': byte %llu: duplicate tensor name",
                         t->name, (unsigned long long)at);
    st = mb_gguf_read_u32(c, &t->n_dims, "n_dims");
    if (st == MB_OK && (t->n_dims < 1 || t->n_dims > MB_GGUF_MAX_DIMS))
        st = mb_errorf(MB_ERR_FORMAT, "byte %llu: n_dims %u is not in 1..%d",
                       (unsigned long long)(c->pos - 4), t->n_dims, MB_GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < MB_GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; st == MB_OK && d < t->n_dims; d++)
        st = mb_gguf_read_u64(c, &t->ne[d], "dimension");
    uint32_t file_type = 0;
    if (st == MB_OK) st = mb_gguf_read_u32(c, &file_type, "tensor type");
    if (st == MB_OK) st = mb_gguf_read_u64(c, &t->offset, "tensor offset");
    if (st != MB_OK) return mb_error_prefix(st, "tensor '%.200s'", t->name);
    t->type = mb_type_from_file(file_type);
    if (t->type == UINT32_MAX)
        return mb_errorf(MB_ERR_UNSUPPORTED, "tensor '%.200s': unknown tensor type id %u", t->name,
                         file_type);
    return mb_gguf_tensor_size(t->name, t->type, t->n_dims, t->ne, &t->nbytes);
}

/* general.alignment is optional, but when present it must be a u32 power of
 * two: offsets are checked against it and the data section starts on it. */
static mb_status read_alignment(mb_gguf *g) {
    g->alignment = MB_GGUF_DEFAULT_ALIGNMENT;
    const mb_gguf_kv *kv = mb_gguf_find_kv(g, "general.alignment");
    if (!kv) return MB_OK;
    if (kv->value.type != MB_GGUF_U32)
        return mb_errorf(MB_ERR_FORMAT, "key 'general.alignment' has type %s, expected u32",
                         mb_gguf_type_name(kv->value.type));
    uint64_t a = kv->value.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return mb_errorf(MB_ERR_FORMAT,
                         "key 'general.alignment': %llu is not a nonzero power of two",
                         (unsigned long long)a);
    g->alignment = a;
    return MB_OK;
}

static bool is_signed_int(uint32_t t) {
    return t == MB_GGUF_I8 || t == MB_GGUF_I16 || t == MB_GGUF_I32 || t == MB_GGUF_I64;
}
static bool is_unsigned_int(uint32_t t) {
    return t == MB_GGUF_U8 || t == MB_GGUF_U16 || t == MB_GGUF_U32 || t == MB_GGUF_U64;
}

/* Split files (llama-gguf-split) carry split.count; each part alone is not a
 * model, so refuse it with the way out rather than fail later on a missing
 * tensor. */
static mb_status refuse_split(const mb_gguf *g) {
    const mb_gguf_kv *kv = mb_gguf_find_kv(g, "split.count");
    if (!kv) return MB_OK;
    uint32_t t = kv->value.type;
    bool many =
        (is_signed_int(t) && kv->value.i64 > 1) || (is_unsigned_int(t) && kv->value.u64 > 1);
    if (!many) return MB_OK;
    return mb_errorf(MB_ERR_UNSUPPORTED, "split GGUF files are not supported yet; merge them first "
                                         "(llama-gguf-split --merge FIRST-SPLIT.gguf MERGED.gguf)");
}

/* The alignment the type's blocks need when read through typed pointers:
 * the largest power of two (up to 8) dividing its block bytes (F32 4, F16
 * and the fp16-scaled blocks 2, Q8_K 4). */
static uint64_t natural_alignment(uint32_t type) {
    const mb_type_traits *tt = mb_type_get(type);
    uint64_t a = 1;
    while (tt && a < 8 && tt->type_size % (a * 2) == 0)
        a *= 2;
    return a;
}

/* Tensor data must lie inside the file, on the alignment, and on its type's
 * natural alignment (a file with general.alignment 1 may put it anywhere;
 * the file is mapped or read at a page boundary, so file offsets decide).
 * Vocab-only files (no tensors) may end before the aligned data start. */
static mb_status place_tensors(mb_gguf *g, uint64_t end_of_infos) {
    if (!mb_align_u64(end_of_infos, g->alignment, &g->data_offset))
        return mb_errorf(MB_ERR_FORMAT, "data section offset overflows");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        mb_gguf_tensor *t = &g->tensors[i];
        uint64_t start, end;
        if (t->offset % g->alignment != 0)
            return mb_errorf(MB_ERR_FORMAT,
                             "tensor '%.200s': offset %llu is not a multiple of the alignment "
                             "%llu",
                             t->name, (unsigned long long)t->offset,
                             (unsigned long long)g->alignment);
        if (!mb_add_u64(g->data_offset, t->offset, &start) || !mb_add_u64(start, t->nbytes, &end))
            return mb_errorf(MB_ERR_FORMAT, "tensor '%.200s': data offset %llu overflows", t->name,
                             (unsigned long long)t->offset);
        if (end > g->map.size)
            return mb_errorf(MB_ERR_FORMAT,
                             "tensor '%.200s': data at offset %llu + %llu bytes exceeds file "
                             "size %llu",
                             t->name, (unsigned long long)start, (unsigned long long)t->nbytes,
                             (unsigned long long)g->map.size);
        const uint64_t need = natural_alignment(t->type);
        if (start % need != 0)
            return mb_errorf(MB_ERR_FORMAT,
                             "tensor '%.200s': data at file offset %llu is not aligned to the %llu "
                             "bytes its type %s needs (general.alignment is %llu); save the file "
                             "with the default alignment of 32",
                             t->name, (unsigned long long)start, (unsigned long long)need,
                             mb_type_name(t->type), (unsigned long long)g->alignment);
        t->data = g->map.data + start;
        if (t->type == MB_TYPE_SQ4 || t->type == MB_TYPE_SQ8 || t->type == MB_TYPE_SQ4_24) {
            const int64_t bad =
                mb_sparse_check(t->type, t->data, t->nbytes / mb_type_get(t->type)->type_size);
            if (bad >= 0 && t->type == MB_TYPE_SQ4_24)
                return mb_errorf(MB_ERR_FORMAT,
                                 "tensor '%.200s': sparse block %lld has a 2:4 index code past "
                                 "the 36 choices of two groups",
                                 t->name, (long long)bad);
            if (bad >= 0)
                return mb_errorf(
                    MB_ERR_FORMAT,
                    "tensor '%.200s': sparse block %lld marks %d non-zero weights, "
                    "more than the %d it can hold",
                    t->name, (long long)bad,
                    mb_sparse_count(t->data + (uint64_t)bad * mb_type_get(t->type)->type_size),
                    MB_SPARSE_CAP);
        }
    }
    return MB_OK;
}

static mb_status parse_all(mb_gguf *g) {
    mb_gguf_cursor c = {g->map.data, g->map.size, 0};
    mb_status st = parse_header(&c, g);
    if (st != MB_OK) return st;
    /* Counts are bounded by the file size now, so these allocations are too. */
    uint64_t n_kv = g->n_kv, n_tensors = g->n_tensors;
    g->n_kv = g->n_tensors = 0; /* how many close() must free, until allocated */
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors)
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate %llu keys and %llu tensors",
                         (unsigned long long)n_kv, (unsigned long long)n_tensors);
    g->n_kv = n_kv;
    g->n_tensors = n_tensors;
    name_set set = {0};
    st = name_set_init(&set, n_kv);
    for (uint64_t i = 0; st == MB_OK && i < n_kv; i++)
        st = parse_kv(&c, g, i, &set);
    free(set.slots);
    if (st == MB_OK) st = read_alignment(g);
    if (st == MB_OK) st = refuse_split(g);
    if (st != MB_OK) return st;
    set.slots = NULL;
    st = name_set_init(&set, n_tensors);
    for (uint64_t i = 0; st == MB_OK && i < n_tensors; i++)
        st = parse_tensor_info(&c, g, i, &set);
    free(set.slots);
    if (st != MB_OK) return st;
    return place_tensors(g, c.pos);
}

/* ---- open, parse, close ---------------------------------------------- */

mb_status mb_gguf_parse(const uint8_t *data, uint64_t size, const char *name, mb_gguf **out) {
    *out = NULL;
    if (!name) name = "<buffer>";
    if (!data && size > 0) return mb_errorf(MB_ERR_INVALID_ARG, "%s: no data", name);
    mb_gguf *g = calloc(1, sizeof *g);
    if (!g) return mb_errorf(MB_ERR_NO_MEMORY, "%s: cannot allocate the reader", name);
    g->map.data = data ? data : (const uint8_t *)"";
    g->map.size = size;
    g->map.is_mmap = -1; /* the caller's memory: never unmapped or freed here */
    mb_status st = parse_all(g);
    if (st != MB_OK) {
        mb_gguf_close(g);
        return mb_error_prefix(st, "%s", name);
    }
    *out = g;
    return MB_OK;
}

mb_status mb_gguf_open(const char *path, int use_mmap, int use_mlock, mb_gguf **out) {
    *out = NULL;
    if (!path) return mb_errorf(MB_ERR_INVALID_ARG, "mb_gguf_open: no path");
    if (mb_gguf_is_split_name(path))
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "%s: split GGUF files are not supported yet; merge them first "
                         "(llama-gguf-split --merge %s MERGED.gguf)",
                         path, path);
    mb_file_map map;
    mb_status st = mb_file_map_open(&map, path, use_mmap, use_mlock);
    if (st != MB_OK) return st;
    st = mb_gguf_parse(map.data, map.size, path, out);
    if (st != MB_OK) {
        mb_file_map_close(&map);
        return st;
    }
    (*out)->map = map;
    (*out)->owns_map = 1;
    return MB_OK;
}

void mb_gguf_close(mb_gguf *g) {
    if (!g) return;
    for (uint64_t i = 0; g->kv && i < g->n_kv; i++) {
        free(g->kv[i].key);
        mb_gguf_value_free(&g->kv[i].value, false);
    }
    for (uint64_t i = 0; g->tensors && i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    if (g->owns_map) mb_file_map_close(&g->map);
    free(g);
}

/* ---- lookups --------------------------------------------------------- */

/* Linear: models have tens of keys and hundreds of tensors, looked up once
 * at load. */
const mb_gguf_kv *mb_gguf_find_kv(const mb_gguf *g, const char *key) {
    for (uint64_t i = 0; g && key && i < g->n_kv; i++) {
        if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0) return &g->kv[i];
    }
    return NULL;
}

const mb_gguf_tensor *mb_gguf_find_tensor(const mb_gguf *g, const char *name) {
    for (uint64_t i = 0; g && name && i < g->n_tensors; i++) {
        if (g->tensors[i].name && strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    }
    return NULL;
}

static mb_status find_typed(const mb_gguf *g, const char *key, const mb_gguf_kv **out) {
    *out = mb_gguf_find_kv(g, key);
    if (*out) return MB_OK;
    return mb_errorf(MB_ERR_INVALID_ARG, "key '%s' not found", key ? key : "(null)");
}

static mb_status mismatch(const mb_gguf_kv *kv, const char *expected) {
    return mb_errorf(MB_ERR_FORMAT, "key '%s' has type %s, expected %s", kv->key,
                     mb_gguf_type_name(kv->value.type), expected);
}

/* Any integer type, as a value in [lo, hi]. */
static mb_status get_int(const mb_gguf *g, const char *key, int64_t lo, uint64_t hi,
                         const char *want, int64_t *s, uint64_t *u) {
    const mb_gguf_kv *kv;
    mb_status st = find_typed(g, key, &kv);
    if (st != MB_OK) return st;
    uint32_t t = kv->value.type;
    if (is_signed_int(t)) {
        int64_t v = kv->value.i64;
        if (v >= lo && (v < 0 || (uint64_t)v <= hi)) {
            *s = v;
            *u = (uint64_t)v;
            return MB_OK;
        }
        return mb_errorf(MB_ERR_FORMAT, "key '%s': value %lld does not fit in %s", key,
                         (long long)v, want);
    }
    if (!is_unsigned_int(t)) return mismatch(kv, "an integer");
    if (kv->value.u64 > hi)
        return mb_errorf(MB_ERR_FORMAT, "key '%s': value %llu does not fit in %s", key,
                         (unsigned long long)kv->value.u64, want);
    *u = kv->value.u64;
    *s = (int64_t)kv->value.u64;
    return MB_OK;
}

mb_status mb_gguf_get_u32(const mb_gguf *g, const char *key, uint32_t *out) {
    int64_t s;
    uint64_t u;
    mb_status st = get_int(g, key, 0, UINT32_MAX, "u32", &s, &u);
    if (st == MB_OK) *out = (uint32_t)u;
    return st;
}

mb_status mb_gguf_get_i64(const mb_gguf *g, const char *key, int64_t *out) {
    int64_t s;
    uint64_t u;
    mb_status st = get_int(g, key, INT64_MIN, INT64_MAX, "i64", &s, &u);
    if (st == MB_OK) *out = s;
    return st;
}

mb_status mb_gguf_get_f32(const mb_gguf *g, const char *key, float *out) {
    const mb_gguf_kv *kv;
    mb_status st = find_typed(g, key, &kv);
    if (st != MB_OK) return st;
    if (kv->value.type != MB_GGUF_F32 && kv->value.type != MB_GGUF_F64) return mismatch(kv, "f32");
    *out = mb_f64_to_f32(kv->value.f64);
    return MB_OK;
}

mb_status mb_gguf_get_bool(const mb_gguf *g, const char *key, bool *out) {
    const mb_gguf_kv *kv;
    mb_status st = find_typed(g, key, &kv);
    if (st != MB_OK) return st;
    if (kv->value.type != MB_GGUF_BOOL) return mismatch(kv, "bool");
    *out = kv->value.u64 != 0;
    return MB_OK;
}

mb_status mb_gguf_get_str(const mb_gguf *g, const char *key, mb_str *out) {
    const mb_gguf_kv *kv;
    mb_status st = find_typed(g, key, &kv);
    if (st != MB_OK) return st;
    if (kv->value.type != MB_GGUF_STR) return mismatch(kv, "str");
    *out = kv->value.str;
    return MB_OK;
}

mb_status mb_gguf_get_arr(const mb_gguf *g, const char *key, const mb_gguf_value **out) {
    const mb_gguf_kv *kv;
    mb_status st = find_typed(g, key, &kv);
    if (st != MB_OK) return st;
    if (kv->value.type != MB_GGUF_ARR) return mismatch(kv, "arr");
    *out = &kv->value;
    return MB_OK;
}
