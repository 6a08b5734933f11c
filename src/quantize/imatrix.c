/* Importance matrices in memory and in llama.cpp's GGUF layout (imatrix.h
 * has the format); the legacy .dat format is in imatrix_dat.c. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "format/gguf.h"
#include "quantize/imatrix.h"
#include "quantize/imatrix_internal.h"
#include "tensor/types.h"

/* Bounds on a file's shapes: far above any model, low enough that sizes
 * computed from them cannot overflow. */
#define MAX_COLS (1 << 24)
#define MAX_MATS (1 << 16)

mb_status mb_imatrix_new(mb_imatrix **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for an importance matrix");
    (*out)->chunk_size = 512;
    return MB_OK;
}

void mb_imatrix_free(mb_imatrix *im) {
    if (!im) return;
    for (int i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].sum2);
        free(im->e[i].max_abs);
        free(im->e[i].count);
    }
    for (int i = 0; i < im->n_datasets; i++)
        free(im->datasets[i]);
    free(im->datasets);
    free(im->e);
    free(im);
}

const mb_imatrix_entry *mb_imatrix_find(const mb_imatrix *im, const char *name) {
    for (int i = 0; im && i < im->n; i++)
        if (strcmp(im->e[i].name, name) == 0) return &im->e[i];
    return NULL;
}

mb_status mb_imatrix_get(mb_imatrix *im, const char *name, int n_cols, int n_mat,
                         mb_imatrix_entry **out) {
    for (int i = 0; i < im->n; i++) {
        mb_imatrix_entry *e = &im->e[i];
        if (strcmp(e->name, name) != 0) continue;
        if (e->n_cols != n_cols || e->n_mat != n_mat)
            return mb_errorf(MB_ERR_FORMAT,
                             "importance matrix entry '%s' is %d x %d here and %d x %d before",
                             name, n_cols, n_mat, e->n_cols, e->n_mat);
        *out = e;
        return MB_OK;
    }
    if (n_cols < 1 || n_cols > MAX_COLS || n_mat < 1 || n_mat > MAX_MATS)
        return mb_errorf(MB_ERR_FORMAT, "importance matrix entry '%s': bad shape %d x %d", name,
                         n_cols, n_mat);
    if (im->n == im->cap) {
        int cap = im->cap ? 2 * im->cap : 16;
        mb_imatrix_entry *e = realloc(im->e, (size_t)cap * sizeof *e);
        if (!e) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for imatrix entries");
        im->e = e;
        im->cap = cap;
    }
    mb_imatrix_entry *e = &im->e[im->n];
    memset(e, 0, sizeof *e);
    const size_t n = (size_t)n_cols * (size_t)n_mat;
    e->name = strdup(name);
    e->sum2 = calloc(n, sizeof *e->sum2);
    e->max_abs = calloc(n, sizeof *e->max_abs);
    e->count = calloc((size_t)n_mat, sizeof *e->count);
    e->n_cols = n_cols;
    e->n_mat = n_mat;
    im->n++;
    if (!e->name || !e->sum2 || !e->max_abs || !e->count)
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for imatrix entry '%s'", name);
    *out = e;
    return MB_OK;
}

mb_status mb_imatrix_add_dataset(mb_imatrix *im, const char *name) {
    char **d = realloc(im->datasets, (size_t)(im->n_datasets + 1) * sizeof *d);
    if (!d) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for dataset names");
    im->datasets = d;
    if (!(d[im->n_datasets] = strdup(name)))
        return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for dataset names");
    im->n_datasets++;
    return MB_OK;
}

void mb_imatrix_accumulate(mb_imatrix_entry *e, int mat, const float *x, int n_rows) {
    double *s = e->sum2 + (size_t)mat * (size_t)e->n_cols;
    float *mx = e->max_abs ? e->max_abs + (size_t)mat * (size_t)e->n_cols : NULL;
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * (size_t)e->n_cols;
        for (int j = 0; j < e->n_cols; j++) {
            s[j] += (double)xr[j] * xr[j];
            if (mx && fabsf(xr[j]) > mx[j]) mx[j] = fabsf(xr[j]);
        }
    }
    e->count[mat] += n_rows;
}

mb_status mb_imatrix_merge(mb_imatrix *dst, const mb_imatrix *src) {
    mb_status st = MB_OK;
    for (int i = 0; !st && i < src->n; i++) {
        const mb_imatrix_entry *s = &src->e[i];
        mb_imatrix_entry *d = NULL;
        if ((st = mb_imatrix_get(dst, s->name, s->n_cols, s->n_mat, &d))) break;
        const size_t n = (size_t)s->n_cols * (size_t)s->n_mat;
        for (size_t j = 0; j < n; j++) {
            d->sum2[j] += s->sum2[j];
            /* a maximum is known only where both sides know it */
            if (d->max_abs && s->max_abs && s->max_abs[j] > d->max_abs[j])
                d->max_abs[j] = s->max_abs[j];
        }
        for (int m = 0; m < s->n_mat; m++)
            d->count[m] += s->count[m];
    }
    for (int i = 0; !st && i < src->n_datasets; i++)
        st = mb_imatrix_add_dataset(dst, src->datasets[i]);
    if (!st) dst->chunk_count += src->chunk_count;
    return st;
}

int mb_imatrix_n_entries(const mb_imatrix *im) {
    return im->n;
}
int mb_imatrix_chunk_count(const mb_imatrix *im) {
    return im->chunk_count;
}
int mb_imatrix_chunk_size(const mb_imatrix *im) {
    return im->chunk_size;
}

void mb_imatrix_mean(const mb_imatrix_entry *e, int mat, float *out) {
    const double c = e->count[mat];
    const double *s = e->sum2 + (size_t)mat * (size_t)e->n_cols;
    for (int j = 0; j < e->n_cols; j++)
        out[j] = c > 0 ? (float)(s[j] / c) : 1.0f;
}

/* ---- GGUF ----------------------------------------------------------- */

static int has_suffix(const char *s, const char *suf, size_t *stem) {
    size_t n = strlen(s), k = strlen(suf);
    if (n <= k || strcmp(s + n - k, suf) != 0) return 0;
    *stem = n - k;
    return 1;
}

/* The F32 tensor STEM+SUFFIX with N elements, or NULL (error set) if it is
 * absent and REQUIRED, or present with another type or size. */
static mb_status find_f32(const mb_gguf *g, const char *stem, const char *suffix, uint64_t n,
                          int required, const float **out) {
    char name[512];
    *out = NULL;
    if (snprintf(name, sizeof name, "%s%s", stem, suffix) >= (int)sizeof name)
        return mb_errorf(MB_ERR_FORMAT, "imatrix tensor name '%s' is too long", stem);
    const mb_gguf_tensor *t = mb_gguf_find_tensor(g, name);
    if (!t)
        return required ? mb_errorf(MB_ERR_FORMAT, "imatrix: '%s' has no tensor '%s'", stem, name)
                        : MB_OK;
    if (t->type != MB_TYPE_F32 || t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] != n)
        return mb_errorf(MB_ERR_FORMAT, "imatrix tensor '%s': expected %llu F32 values", name,
                         (unsigned long long)n);
    *out = (const float *)t->data;
    return MB_OK;
}

static float get_f32(const float *p, uint64_t i) {
    float v;
    memcpy(&v, p + i, sizeof v); /* tensor data is aligned, but be safe */
    return v;
}

static mb_status read_entry(const mb_gguf *g, const mb_gguf_tensor *t, size_t stem_len,
                            mb_imatrix *im) {
    char stem[512];
    if (stem_len >= sizeof stem)
        return mb_errorf(MB_ERR_FORMAT, "imatrix tensor name '%s' is too long", t->name);
    memcpy(stem, t->name, stem_len);
    stem[stem_len] = 0;
    const uint64_t n_mat = t->ne[1] * t->ne[2] * t->ne[3];
    if (t->ne[0] < 1 || t->ne[0] > MAX_COLS || n_mat < 1 || n_mat > MAX_MATS)
        return mb_errorf(MB_ERR_FORMAT, "imatrix tensor '%s' has a bad shape", t->name);
    const uint64_t n = t->ne[0] * n_mat;
    const float *sum2, *counts, *mx;
    mb_status st = find_f32(g, stem, ".in_sum2", n, 1, &sum2);
    if (!st) st = find_f32(g, stem, ".counts", n_mat, 1, &counts);
    if (!st) st = find_f32(g, stem, ".in_max", n, 0, &mx);
    mb_imatrix_entry *e = NULL;
    if (!st) st = mb_imatrix_get(im, stem, (int)t->ne[0], (int)n_mat, &e);
    if (st) return st;
    for (uint64_t m = 0; m < n_mat; m++) {
        const float c = get_f32(counts, m);
        if (!(c >= 0 && c < 1e18f))
            return mb_errorf(MB_ERR_FORMAT, "imatrix '%s': count %g is not a row count", stem,
                             (double)c);
        e->count[m] += c;
    }
    for (uint64_t j = 0; j < n; j++) {
        const float s = get_f32(sum2, j), m = mx ? get_f32(mx, j) : 0.0f;
        if (!(s >= 0 && isfinite(s)) || !(m >= 0 && isfinite(m)))
            return mb_errorf(MB_ERR_FORMAT, "imatrix '%s': value %llu is negative or not finite",
                             stem, (unsigned long long)j);
        e->sum2[j] += s;
        if (mx && m > e->max_abs[j]) e->max_abs[j] = m;
    }
    if (!mx) { /* unknown: SmoothQuant must not mistake zeros for data */
        free(e->max_abs);
        e->max_abs = NULL;
    }
    return MB_OK;
}

mb_status mb_imatrix_from_gguf(const mb_gguf *g, mb_imatrix *im) {
    const mb_gguf_value *ds = NULL;
    uint32_t v;
    if (mb_gguf_get_u32(g, "imatrix.chunk_count", &v) == MB_OK)
        im->chunk_count = v <= INT32_MAX ? (int)v : 0;
    if (mb_gguf_get_u32(g, "imatrix.chunk_size", &v) == MB_OK && v > 0 && v < (1u << 30))
        im->chunk_size = (int)v;
    if (mb_gguf_get_arr(g, "imatrix.datasets", &ds) == MB_OK && ds->arr.type == MB_GGUF_STR) {
        for (uint64_t i = 0; i < ds->arr.n && i < 256; i++) {
            char buf[1024];
            const mb_str s = ds->arr.strs[i];
            snprintf(buf, sizeof buf, "%.*s", (int)(s.len < 1000 ? s.len : 1000), s.ptr);
            mb_status st = mb_imatrix_add_dataset(im, buf);
            if (st) return st;
        }
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        size_t stem;
        if (!has_suffix(g->tensors[i].name, ".in_sum2", &stem)) continue;
        mb_status st = read_entry(g, &g->tensors[i], stem, im);
        if (st) return st;
    }
    if (im->n == 0)
        return mb_errorf(MB_ERR_FORMAT, "no '<tensor>.in_sum2' tensors: not an importance matrix");
    return MB_OK;
}

mb_status mb_imatrix_parse(const uint8_t *data, size_t size, const char *name, mb_imatrix **out) {
    mb_status st = mb_imatrix_new(out);
    if (st) return st;
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0) {
        mb_gguf *g = NULL;
        st = mb_gguf_parse(data, size, name, &g);
        if (!st) st = mb_imatrix_from_gguf(g, *out);
        mb_gguf_close(g);
    } else {
        st = mb_imatrix_parse_dat(data, size, *out);
    }
    if (st) {
        mb_imatrix_free(*out);
        *out = NULL;
        return mb_error_prefix(st, "importance matrix %s", name);
    }
    return MB_OK;
}

mb_status mb_imatrix_read(const char *path, mb_imatrix **out) {
    mb_file_map map;
    *out = NULL;
    mb_status st = mb_file_map_open(&map, path, 1, 0);
    if (st) return st;
    st = mb_imatrix_parse(map.data, (size_t)map.size, path, out);
    mb_file_map_close(&map);
    return st;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp((*(const mb_imatrix_entry *const *)a)->name,
                  (*(const mb_imatrix_entry *const *)b)->name);
}

/* Entries sorted by name, as llama.cpp writes them. */
const mb_imatrix_entry **mb_imatrix_sorted(const mb_imatrix *im) {
    const mb_imatrix_entry **s = malloc((size_t)(im->n ? im->n : 1) * sizeof *s);
    if (!s) return NULL;
    for (int i = 0; i < im->n; i++)
        s[i] = &im->e[i];
    qsort(s, (size_t)im->n, sizeof *s, cmp_entry);
    return s;
}

mb_status mb_imatrix_write_gguf(const mb_imatrix *im, const char *path) {
    mb_gguf_writer *w = NULL;
    const mb_imatrix_entry **s = mb_imatrix_sorted(im);
    float **bufs = calloc((size_t)im->n * 3 + 1, sizeof *bufs);
    mb_status st = s && bufs ? mb_gguf_writer_new(&w)
                             : mb_errorf(MB_ERR_NO_MEMORY, "out of memory writing %s", path);
    if (!st) st = mb_gguf_writer_set_str(w, "general.type", "imatrix");
    if (!st)
        st = mb_gguf_writer_set_arr_str(w, "imatrix.datasets", (const char *const *)im->datasets,
                                        (uint64_t)im->n_datasets);
    if (!st) st = mb_gguf_writer_set_u32(w, "imatrix.chunk_count", (uint32_t)im->chunk_count);
    if (!st) st = mb_gguf_writer_set_u32(w, "imatrix.chunk_size", (uint32_t)im->chunk_size);
    for (int i = 0; !st && i < im->n; i++) {
        const mb_imatrix_entry *e = s[i];
        const uint64_t n = (uint64_t)e->n_cols * (uint64_t)e->n_mat;
        float *sum2 = bufs[3 * i] = malloc(n * sizeof(float));
        float *cnt = bufs[3 * i + 1] = malloc((size_t)e->n_mat * sizeof(float));
        float *mx = bufs[3 * i + 2] = e->max_abs ? malloc(n * sizeof(float)) : NULL;
        if (!sum2 || !cnt || (e->max_abs && !mx)) {
            st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory writing %s", path);
            break;
        }
        for (uint64_t j = 0; j < n; j++)
            sum2[j] = (float)e->sum2[j];
        for (int m = 0; m < e->n_mat; m++)
            cnt[m] = (float)e->count[m];
        if (mx) memcpy(mx, e->max_abs, n * sizeof(float));
        char name[600];
        const uint64_t ne[2] = {(uint64_t)e->n_cols, (uint64_t)e->n_mat}, ne_c[2] = {1, ne[1]};
        snprintf(name, sizeof name, "%s.in_sum2", e->name);
        st = mb_gguf_writer_add_tensor(w, name, MB_TYPE_F32, 2, ne, sum2, n * sizeof(float));
        snprintf(name, sizeof name, "%s.counts", e->name);
        if (!st)
            st = mb_gguf_writer_add_tensor(w, name, MB_TYPE_F32, 2, ne_c, cnt,
                                           ne[1] * sizeof(float));
        snprintf(name, sizeof name, "%s.in_max", e->name);
        if (!st && mx)
            st = mb_gguf_writer_add_tensor(w, name, MB_TYPE_F32, 2, ne, mx, n * sizeof(float));
    }
    if (!st) st = mb_gguf_writer_write(w, path);
    mb_gguf_writer_free(w);
    for (int i = 0; bufs && i < 3 * im->n; i++)
        free(bufs[i]);
    free(bufs);
    free(s);
    return st;
}

mb_status mb_imatrix_write(const mb_imatrix *im, const char *path) {
    size_t stem;
    return has_suffix(path, ".dat", &stem) ? mb_imatrix_write_dat(im, path)
                                           : mb_imatrix_write_gguf(im, path);
}
