/* The legacy imatrix.dat format of llama.cpp (layout in imatrix.h). Every
 * length and count read is checked against the bytes that remain, so a
 * truncated or hostile file is an error, never a large allocation. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "matchbox/files.h"
#include "quantize/imatrix.h"
#include "quantize/imatrix_internal.h"

typedef struct {
    const uint8_t *p;
    size_t left;
} reader;

static int read_i32(reader *r, int32_t *v) {
    if (r->left < 4) return 0;
    uint32_t u = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    memcpy(v, &u, sizeof *v);
    r->p += 4;
    r->left -= 4;
    return 1;
}

static float read_f32_at(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static mb_status read_entry(reader *r, int index, mb_imatrix *im) {
    int32_t len, ncall, nval;
    if (!read_i32(r, &len))
        return mb_errorf(MB_ERR_FORMAT, "truncated at the name of entry %d", index);
    if (len < 1 || len > 511 || (size_t)len > r->left)
        return mb_errorf(MB_ERR_FORMAT, "entry %d: bad name length %d", index, (int)len);
    char name[512];
    memcpy(name, r->p, (size_t)len);
    name[len] = 0;
    r->p += len;
    r->left -= (size_t)len;
    if (strlen(name) != (size_t)len)
        return mb_errorf(MB_ERR_FORMAT, "entry %d: the name holds a NUL byte", index);
    if (!read_i32(r, &ncall) || !read_i32(r, &nval))
        return mb_errorf(MB_ERR_FORMAT, "entry '%s': truncated header", name);
    if (ncall < 0 || nval < 1 || (size_t)nval > r->left / 4)
        return mb_errorf(MB_ERR_FORMAT, "entry '%s': %d calls, %d values (%zu bytes remain)", name,
                         (int)ncall, (int)nval, r->left);
    mb_imatrix_entry *e = NULL;
    mb_status st = mb_imatrix_get(im, name, (int)nval, 1, &e);
    if (st) return st;
    /* The stored values are mean x^2 times ncall; a chunk holds chunk_size
     * rows, so the sums and counts are these times chunk_size. */
    const double cs = im->chunk_size;
    for (int32_t j = 0; j < nval; j++) {
        const float v = read_f32_at(r->p + 4 * (size_t)j);
        if (!(v >= 0 && isfinite(v)))
            return mb_errorf(MB_ERR_FORMAT, "entry '%s': value %d is negative or not finite", name,
                             (int)j);
        e->sum2[j] += (double)v * cs;
    }
    e->count[0] += (double)ncall * cs;
    free(e->max_abs); /* the format has none */
    e->max_abs = NULL;
    r->p += 4 * (size_t)nval;
    r->left -= 4 * (size_t)nval;
    return MB_OK;
}

mb_status mb_imatrix_parse_dat(const uint8_t *data, size_t size, mb_imatrix *im) {
    reader r = {data, size};
    int32_t n;
    if (!read_i32(&r, &n) || n < 1)
        return mb_errorf(MB_ERR_FORMAT, "not an imatrix (neither GGUF nor a legacy .dat file)");
    /* Each entry takes at least 16 bytes. */
    if ((size_t)n > r.left / 16)
        return mb_errorf(MB_ERR_FORMAT, "%d entries cannot fit in %zu bytes", (int)n, r.left);
    for (int32_t i = 0; i < n; i++) {
        mb_status st = read_entry(&r, (int)i, im);
        if (st) return st;
    }
    int32_t chunks, len;
    if (read_i32(&r, &chunks) && chunks >= 0) im->chunk_count = chunks;
    if (read_i32(&r, &len) && len > 0 && (size_t)len <= r.left && len < 4096) {
        char name[4096];
        memcpy(name, r.p, (size_t)len);
        name[len] = 0;
        return mb_imatrix_add_dataset(im, name);
    }
    return MB_OK;
}

static int put_i32(FILE *f, int32_t v) {
    uint8_t b[4];
    const uint32_t u = (uint32_t)v;
    for (int k = 0; k < 4; k++)
        b[k] = (uint8_t)(u >> (8 * k));
    return fwrite(b, 1, 4, f) == 4;
}

static int put_f32(FILE *f, float v) {
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return put_i32(f, i);
}

static int write_entries(FILE *f, const mb_imatrix *im, const mb_imatrix_entry **s) {
    int n = 0;
    for (int i = 0; i < im->n; i++)
        for (int m = 0; m < s[i]->n_mat; m++)
            if (s[i]->count[m] > 0) {
                n++;
                break;
            }
    int ok = put_i32(f, n);
    const double cs = im->chunk_size > 0 ? im->chunk_size : 512;
    for (int i = 0; ok && i < im->n; i++) {
        const mb_imatrix_entry *e = s[i];
        double max_count = 0;
        for (int m = 0; m < e->n_mat; m++)
            max_count = e->count[m] > max_count ? e->count[m] : max_count;
        if (max_count <= 0) continue; /* llama.cpp skips entries without data too */
        const double ncall = ceil(max_count / cs);
        const int32_t len = (int32_t)strlen(e->name);
        ok = put_i32(f, len) && fwrite(e->name, 1, (size_t)len, f) == (size_t)len &&
             put_i32(f, (int32_t)(ncall < INT32_MAX ? ncall : INT32_MAX)) &&
             put_i32(f, e->n_cols * e->n_mat);
        for (int m = 0; ok && m < e->n_mat; m++)
            for (int j = 0; ok && j < e->n_cols; j++) {
                const double c = e->count[m];
                const double v = c > 0 ? e->sum2[(size_t)m * (size_t)e->n_cols + (size_t)j] / c : 1;
                ok = put_f32(f, (float)(v * ncall));
            }
    }
    const char *ds = im->n_datasets ? im->datasets[im->n_datasets - 1] : "";
    const int32_t dlen = (int32_t)strlen(ds);
    return ok && put_i32(f, im->chunk_count) && put_i32(f, dlen) &&
           fwrite(ds, 1, (size_t)dlen, f) == (size_t)dlen;
}

mb_status mb_imatrix_write_dat(const mb_imatrix *im, const char *path) {
    const mb_imatrix_entry **s = mb_imatrix_sorted(im);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory writing %s", path);
    char *tmp = NULL;
    mb_status st = mb_outfile_check(path);
    const int fd = st == MB_OK ? mb_outfile_create(path, &tmp) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (st != MB_OK || fd < 0) {
        st = st != MB_OK ? st : MB_ERR_IO; /* the message is set */
    } else if (!f) {
        close(fd);
        mb_outfile_discard(tmp);
        st = mb_errorf(MB_ERR_IO, "cannot create a temp file next to %s", path);
    } else {
        int ok = write_entries(f, im, s) && fflush(f) == 0 && fsync(fd) == 0;
        ok = (fclose(f) == 0) && ok;
        if (!ok) {
            mb_outfile_discard(tmp);
            st = mb_errorf(MB_ERR_IO, "cannot write %s", path);
        } else {
            st = mb_outfile_commit(tmp, path);
        }
    }
    free(s);
    return st;
}
