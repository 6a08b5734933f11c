/* GGUF writer: collects metadata (owned copies) and tensors (referenced),
 * then writes version 3 atomically — a temp file in the target's directory,
 * every write checked, fsync, rename (matchbox/files.h) — so a failed run
 * never leaves a half-written model at PATH, and a PATH that is a device,
 * FIFO or directory is refused before anything is written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/error.h"
#include "format/gguf_internal.h"
#include "matchbox/files.h"
#include "tensor/types.h"

typedef struct {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[MB_GGUF_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
    uint64_t offset;             /* assigned when writing */
    mb_gguf_tensor_fill_fn fill; /* non-NULL: bytes produced at write time */
    void *fill_user;
} writer_tensor;

struct mb_gguf_writer {
    mb_gguf_kv *kv;
    uint64_t n_kv, cap_kv;
    writer_tensor *tensors;
    uint64_t n_tensors, cap_tensors;
    uint64_t alignment;
};

mb_status mb_gguf_writer_new(mb_gguf_writer **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate a GGUF writer");
    (*out)->alignment = MB_GGUF_DEFAULT_ALIGNMENT;
    return MB_OK;
}

void mb_gguf_writer_free(mb_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        mb_gguf_value_free(&w->kv[i].value, true);
    }
    for (uint64_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->kv);
    free(w->tensors);
    free(w);
}

/* Grow *ARR (of EACH-byte items) so it holds one more than N. */
static bool grow(void **arr, uint64_t *cap, uint64_t n, size_t each) {
    if (n < *cap) return true;
    uint64_t new_cap = *cap ? *cap * 2 : 16;
    void *p = new_cap <= SIZE_MAX / each ? realloc(*arr, (size_t)new_cap * each) : NULL;
    if (!p) return false;
    *arr = p;
    *cap = new_cap;
    return true;
}

/* Store V (whose memory the writer now owns, and frees on failure) under KEY. */
static mb_status set_owned(mb_gguf_writer *w, const char *key, mb_gguf_value *v) {
    mb_status st = MB_OK;
    if (!w || !key || !*key) {
        st = mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: a key must be a non-empty string");
    } else if (strcmp(key, "general.alignment") == 0) {
        /* The reader insists on a u32 power of two, so refuse to write anything else. */
        if (v->type != MB_GGUF_U32 || v->u64 == 0 || (v->u64 & (v->u64 - 1)) != 0)
            st = mb_errorf(MB_ERR_INVALID_ARG,
                           "gguf writer: general.alignment must be a u32 nonzero power of two");
        else
            w->alignment = v->u64;
    }
    if (st != MB_OK) {
        mb_gguf_value_free(v, true);
        return st;
    }
    for (uint64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            mb_gguf_value_free(&w->kv[i].value, true);
            w->kv[i].value = *v;
            return MB_OK;
        }
    }
    char *copy = strdup(key);
    if (!copy || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(copy);
        mb_gguf_value_free(v, true);
        return mb_errorf(MB_ERR_NO_MEMORY, "gguf writer: cannot add key '%s'", key);
    }
    w->kv[w->n_kv].key = copy;
    w->kv[w->n_kv].value = *v;
    w->n_kv++;
    return MB_OK;
}

static mb_status set_scalar(mb_gguf_writer *w, const char *key, uint32_t type, uint64_t u,
                            int64_t i, double f) {
    mb_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    if (type == MB_GGUF_F32 || type == MB_GGUF_F64)
        v.f64 = f;
    else if (type == MB_GGUF_I32 || type == MB_GGUF_I64)
        v.i64 = i;
    else
        v.u64 = u;
    return set_owned(w, key, &v);
}

mb_status mb_gguf_writer_set_u32(mb_gguf_writer *w, const char *key, uint32_t v) {
    return set_scalar(w, key, MB_GGUF_U32, v, 0, 0);
}
mb_status mb_gguf_writer_set_i32(mb_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, MB_GGUF_I32, 0, v, 0);
}
mb_status mb_gguf_writer_set_u64(mb_gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, MB_GGUF_U64, v, 0, 0);
}
mb_status mb_gguf_writer_set_f32(mb_gguf_writer *w, const char *key, float v) {
    return set_scalar(w, key, MB_GGUF_F32, 0, 0, v);
}
mb_status mb_gguf_writer_set_bool(mb_gguf_writer *w, const char *key, bool v) {
    return set_scalar(w, key, MB_GGUF_BOOL, v ? 1 : 0, 0, 0);
}

mb_status mb_gguf_writer_set_value(mb_gguf_writer *w, const char *key, const mb_gguf_value *v) {
    mb_gguf_value copy;
    if (!v)
        return mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: key '%s': no value",
                         key ? key : "(null)");
    mb_status st = mb_gguf_value_copy(&copy, v);
    if (st != MB_OK) return mb_error_prefix(st, "gguf writer: key '%s'", key ? key : "(null)");
    return set_owned(w, key, &copy);
}

mb_status mb_gguf_writer_set_str(mb_gguf_writer *w, const char *key, const char *v) {
    mb_gguf_value s;
    memset(&s, 0, sizeof s);
    s.type = MB_GGUF_STR;
    s.str.ptr = v;
    s.str.len = v ? strlen(v) : 0;
    return mb_gguf_writer_set_value(w, key, &s);
}

mb_status mb_gguf_writer_set_arr(mb_gguf_writer *w, const char *key, uint32_t elem_type,
                                 const void *data, uint64_t n) {
    uint32_t size = mb_gguf_scalar_size(elem_type);
    if (size == 0)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "gguf writer: key '%s': set_arr takes scalar elements, not %s",
                         key ? key : "(null)", mb_gguf_type_name(elem_type));
    uint64_t bytes;
    if (!mb_mul_u64(n, size, &bytes) || bytes >= SIZE_MAX || (n > 0 && !data))
        return mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: key '%s': bad array of %llu elements",
                         key ? key : "(null)", (unsigned long long)n);
    /* DATA is in host byte order; the file wants little-endian. */
    uint8_t *raw = malloc(bytes ? (size_t)bytes : 1);
    if (!raw)
        return mb_errorf(MB_ERR_NO_MEMORY, "gguf writer: cannot copy %llu bytes",
                         (unsigned long long)bytes);
    const uint8_t *src = data;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t bits = 0;
        if (size == 1)
            bits = src[i];
        else if (size == 2) {
            uint16_t x;
            memcpy(&x, src + i * 2, 2);
            bits = x;
        } else if (size == 4) {
            uint32_t x;
            memcpy(&x, src + i * 4, 4);
            bits = x;
        } else
            memcpy(&bits, src + i * 8, 8);
        for (uint32_t b = 0; b < size; b++)
            raw[i * size + b] = (uint8_t)(bits >> (8 * b));
    }
    mb_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = MB_GGUF_ARR;
    v.arr.type = elem_type;
    v.arr.n = n;
    v.arr.raw = raw;
    /* Copy once more through the validator (bools must be 0 or 1). */
    mb_status st = mb_gguf_writer_set_value(w, key, &v);
    free(raw);
    return st;
}

mb_status mb_gguf_writer_set_arr_str(mb_gguf_writer *w, const char *key, const char *const *v,
                                     uint64_t n) {
    if (n > 0 && !v)
        return mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: key '%s': no strings",
                         key ? key : "(null)");
    mb_str *strs = n <= SIZE_MAX / sizeof *strs ? malloc(n ? (size_t)n * sizeof *strs : 1) : NULL;
    if (!strs)
        return mb_errorf(MB_ERR_NO_MEMORY, "gguf writer: cannot copy %llu strings",
                         (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        strs[i].ptr = v[i];
        strs[i].len = v[i] ? strlen(v[i]) : 0;
    }
    mb_gguf_value a;
    memset(&a, 0, sizeof a);
    a.type = MB_GGUF_ARR;
    a.arr.type = MB_GGUF_STR;
    a.arr.n = n;
    a.arr.strs = strs;
    mb_status st = mb_gguf_writer_set_value(w, key, &a);
    free(strs);
    return st;
}

static mb_status add_tensor(mb_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                            const uint64_t *ne, const void *data, uint64_t nbytes,
                            mb_gguf_tensor_fill_fn fill, void *fill_user) {
    if (!w || !name || !*name || !ne)
        return mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: a tensor needs a name and a shape");
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0)
            return mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: tensor '%s' added twice", name);
    }
    uint64_t want;
    mb_status st = mb_gguf_tensor_size(name, type, n_dims, ne, &want);
    if (st != MB_OK) return mb_error_prefix(MB_ERR_INVALID_ARG, "gguf writer");
    if (fill) nbytes = want; /* the producer is told the size */
    if (nbytes != want || (!data && !fill) || nbytes > SIZE_MAX)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "gguf writer: tensor '%s': %llu bytes of data given, its type %s and "
                         "shape need %llu",
                         name, (unsigned long long)nbytes, mb_type_name(type),
                         (unsigned long long)want);
    char *copy = strdup(name);
    if (!copy || !grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors)) {
        free(copy);
        return mb_errorf(MB_ERR_NO_MEMORY, "gguf writer: cannot add tensor '%s'", name);
    }
    writer_tensor *t = &w->tensors[w->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = copy;
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < MB_GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->data = fill ? NULL : data;
    t->nbytes = nbytes;
    t->fill = fill;
    t->fill_user = fill_user;
    return MB_OK;
}

mb_status mb_gguf_writer_add_tensor(mb_gguf_writer *w, const char *name, uint32_t type,
                                    uint32_t n_dims, const uint64_t *ne, const void *data,
                                    uint64_t nbytes) {
    return add_tensor(w, name, type, n_dims, ne, data, nbytes, NULL, NULL);
}

mb_status mb_gguf_writer_add_tensor_cb(mb_gguf_writer *w, const char *name, uint32_t type,
                                       uint32_t n_dims, const uint64_t *ne,
                                       mb_gguf_tensor_fill_fn fill, void *user) {
    if (!fill)
        return mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: tensor '%s' has no producer", name);
    return add_tensor(w, name, type, n_dims, ne, NULL, 0, fill, user);
}

/* ---- serialization --------------------------------------------------- */

/* A FILE with a sticky error: the first failed write's errno is kept and
 * later writes are skipped, so the caller checks once at the end. */
typedef struct {
    FILE *f;
    uint64_t written;
    int err;
    mb_status fill_status; /* a producer's failure (its message is already set) */
} sink;

static void put(sink *s, const void *p, uint64_t n) {
    if (s->err || n == 0) return;
    errno = 0;
    if (fwrite(p, 1, (size_t)n, s->f) != (size_t)n) {
        s->err = errno ? errno : EIO;
        return;
    }
    s->written += n;
}

static void put_u32(sink *s, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(s, b, 4);
}

static void put_u64(sink *s, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(s, b, 8);
}

static void put_str(sink *s, const char *p, uint64_t len) {
    put_u64(s, len);
    put(s, p, len);
}

static void put_zeros(sink *s, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        put(s, zeros, k);
        n -= k;
    }
}

/* The array body (element type, count, elements); nested arrays recurse
 * (depth is bounded by mb_gguf_value_copy). */
static void put_array(sink *s, const mb_gguf_value *v) {
    put_u32(s, v->arr.type);
    put_u64(s, v->arr.n);
    for (uint64_t i = 0; v->arr.type == MB_GGUF_STR && i < v->arr.n; i++)
        put_str(s, v->arr.strs[i].ptr, v->arr.strs[i].len);
    for (uint64_t i = 0; v->arr.type == MB_GGUF_ARR && i < v->arr.n; i++)
        put_array(s, &v->arr.items[i]);
    if (v->arr.type != MB_GGUF_STR && v->arr.type != MB_GGUF_ARR)
        put(s, v->arr.raw, v->arr.n * mb_gguf_scalar_size(v->arr.type));
}

static void put_value(sink *s, const mb_gguf_value *v) {
    if (v->type == MB_GGUF_STR) {
        put_str(s, v->str.ptr, v->str.len);
    } else if (v->type == MB_GGUF_ARR) {
        put_array(s, v);
    } else {
        uint8_t b[8];
        put(s, b, mb_gguf_scalar_encode(v, b));
    }
}

/* Offsets relative to the data section, each tensor on the alignment. */
static mb_status assign_offsets(mb_gguf_writer *w) {
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        w->tensors[i].offset = off;
        if (!mb_add_u64(off, w->tensors[i].nbytes, &off) || !mb_align_u64(off, w->alignment, &off))
            return mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: tensor data exceeds 2^64 bytes");
    }
    return MB_OK;
}

/* A tensor whose bytes are made now: only one such buffer is alive at a
 * time, so a quantizer's memory stays near one tensor. */
static void put_produced(sink *s, const writer_tensor *t, uint64_t index) {
    if (s->err || s->fill_status) return;
    void *buf = malloc(t->nbytes ? (size_t)t->nbytes : 1);
    if (!buf) {
        s->fill_status =
            mb_errorf(MB_ERR_NO_MEMORY, "gguf writer: tensor '%s': cannot allocate %llu bytes",
                      t->name, (unsigned long long)t->nbytes);
        return;
    }
    mb_status st = t->fill(t->fill_user, index, buf, t->nbytes);
    if (st != MB_OK) {
        s->fill_status = st;
    } else {
        put(s, buf, t->nbytes);
    }
    free(buf);
}

static void put_all(sink *s, const mb_gguf_writer *w) {
    put(s, MB_GGUF_MAGIC, 4);
    put_u32(s, 3);
    put_u64(s, w->n_tensors);
    put_u64(s, w->n_kv);
    for (uint64_t i = 0; i < w->n_kv; i++) {
        put_str(s, w->kv[i].key, strlen(w->kv[i].key));
        put_u32(s, w->kv[i].value.type);
        put_value(s, &w->kv[i].value);
    }
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        put_str(s, t->name, strlen(t->name));
        put_u32(s, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_u64(s, t->ne[d]);
        put_u32(s, mb_type_to_file(t->type));
        put_u64(s, t->offset);
    }
    if (w->n_tensors == 0) return; /* nothing follows: no padding needed */
    put_zeros(s, (w->alignment - s->written % w->alignment) % w->alignment);
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        if (t->fill) {
            put_produced(s, t, i);
        } else {
            put(s, t->data, t->nbytes);
        }
        put_zeros(s, (w->alignment - t->nbytes % w->alignment) % w->alignment);
    }
}

mb_status mb_gguf_writer_write(mb_gguf_writer *w, const char *path) {
    if (!w || !path || !*path) return mb_errorf(MB_ERR_INVALID_ARG, "gguf writer: no output path");
    mb_status st = assign_offsets(w);
    if (st != MB_OK) return st;
    if ((st = mb_outfile_check(path)) != MB_OK) return st;
    char *tmp = NULL;
    int fd = mb_outfile_create(path, &tmp);
    if (fd < 0) return MB_ERR_IO;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        st = mb_errorf(MB_ERR_IO, "%s: fdopen failed: %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    sink s = {f, 0, 0, MB_OK};
    put_all(&s, w);
    if (s.fill_status != MB_OK) {
        st = s.fill_status;
        fclose(f);
        goto fail;
    }
    const char *step = "write";
    if (!s.err && fflush(f) != 0) s.err = errno, step = "flush";
    if (!s.err && fsync(fd) != 0) s.err = errno, step = "fsync";
    int close_rc = fclose(f);
    if (!s.err && close_rc != 0) s.err = errno, step = "close";
    if (s.err) {
        st = mb_errorf(MB_ERR_IO, "%s: %s failed after %llu bytes: %s", path, step,
                       (unsigned long long)s.written, strerror(s.err));
        goto fail;
    }
    return mb_outfile_commit(tmp, path);
fail:
    mb_outfile_discard(tmp);
    return st;
}
