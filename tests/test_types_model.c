/* The decoders on real data: llama.cpp's Q4_K_M quantization of a synthetic
 * 125M llama (../shared/models/llama-125m-Q4_K_M.gguf), whose Q4_K and Q6_K
 * tensors were encoded from random F16 weights (../shared/tools/synth_gguf.py).
 *
 * Two checks per tensor: the decoded weights have the statistics of their
 * source (which a wrong bit position or scale formula would not give), and
 * every value agrees bit for bit with the independent per-value decoder of
 * quant_spec.h. The file is located with a small parser of its own so this
 * test depends on the tensor layer alone. */
#include "test_util.h"

#include "quant_spec.h"
#include "tensor/types.h"

typedef struct {
    const uint8_t *p, *end;
    bool ok;
} reader;

static uint64_t rd(reader *r, int bytes) {
    if (!r->ok || r->end - r->p < bytes) {
        r->ok = false;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    return v;
}

static void skip(reader *r, uint64_t n) {
    if (!r->ok || (uint64_t)(r->end - r->p) < n) {
        r->ok = false;
        return;
    }
    r->p += n;
}

/* Skip one metadata value of GGUF type T (arrays recursively). */
static void skip_value(reader *r, uint32_t t, int depth) {
    static const int size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t == 8) {
        skip(r, rd(r, 8));
    } else if (t == 9 && depth < 4) {
        uint32_t et = (uint32_t)rd(r, 4);
        uint64_t n = rd(r, 8);
        if (et < 13 && size[et] > 0) {
            if (n > (uint64_t)(r->end - r->p))
                r->ok = false;
            else
                skip(r, n * (uint64_t)size[et]);
        } else {
            for (uint64_t i = 0; i < n && r->ok; i++)
                skip_value(r, et, depth + 1);
        }
    } else if (t < 13 && size[t] > 0) {
        skip(r, (uint64_t)size[t]);
    } else {
        r->ok = false;
    }
}

typedef struct {
    char name[96];
    uint64_t ne0, nrows;
    uint32_t type;
    uint64_t offset;
} tensor_info;

/* Reads the tensor directory; returns the count (0 on a malformed file). */
static int read_directory(const uint8_t *data, size_t size, tensor_info *out, int max,
                          uint64_t *data_start) {
    reader r = {data, data + size, true};
    if (rd(&r, 4) != 0x46554747u /* "GGUF" */ || rd(&r, 4) != 3) return 0;
    uint64_t n_tensors = rd(&r, 8), n_kv = rd(&r, 8);
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv && r.ok; i++) {
        uint64_t klen = rd(&r, 8);
        const uint8_t *key = r.p;
        skip(&r, klen);
        uint32_t t = (uint32_t)rd(&r, 4);
        if (r.ok && t == 4 && klen == 17 && memcmp(key, "general.alignment", 17) == 0) {
            alignment = rd(&r, 4);
        } else {
            skip_value(&r, t, 0);
        }
    }
    if (n_tensors > (uint64_t)max || alignment == 0) return 0;
    for (uint64_t i = 0; i < n_tensors && r.ok; i++) {
        tensor_info *ti = &out[i];
        uint64_t len = rd(&r, 8);
        if (len >= sizeof ti->name || (uint64_t)(r.end - r.p) < len) return 0;
        memcpy(ti->name, r.p, len);
        ti->name[len] = '\0';
        skip(&r, len);
        uint32_t n_dims = (uint32_t)rd(&r, 4);
        if (n_dims < 1 || n_dims > 4) return 0;
        ti->ne0 = rd(&r, 8);
        ti->nrows = 1;
        for (uint32_t d = 1; d < n_dims; d++)
            ti->nrows *= rd(&r, 8);
        ti->type = (uint32_t)rd(&r, 4);
        ti->offset = rd(&r, 8);
    }
    if (!r.ok) return 0;
    uint64_t pos = (uint64_t)(r.p - data);
    *data_start = (pos + alignment - 1) / alignment * alignment;
    return (int)n_tensors;
}

typedef struct {
    int tensors, spec_mismatches;
    double max_abs_mean;
    double min_std, max_std, max_abs;
} summary;

/* Decode one tensor, check every value against the spec decoder, and fold
 * its statistics into S. */
static void check_tensor(const uint8_t *base, size_t size, const tensor_info *ti, summary *s) {
    const mb_type_traits *t = mb_type_get(ti->type);
    uint64_t row_bytes;
    if (!t || !mb_type_row_bytes(ti->type, ti->ne0, &row_bytes)) {
        CHECK_MSG(false, "tensor %s: type %u, row of %llu", ti->name, ti->type,
                  (unsigned long long)ti->ne0);
        return;
    }
    CHECK_MSG(ti->offset + row_bytes * ti->nrows <= size, "tensor %s runs past the file", ti->name);
    if (ti->offset + row_bytes * ti->nrows > size) return;
    float *row = malloc(ti->ne0 * sizeof(float));
    double sum = 0, sum2 = 0, amax = 0;
    int bad = 0;
    for (uint64_t r = 0; r < ti->nrows; r++) {
        const uint8_t *src = base + ti->offset + r * row_bytes;
        t->to_float(src, row, (int64_t)ti->ne0);
        for (uint64_t e = 0; e < ti->ne0; e++) {
            sum += row[e];
            sum2 += (double)row[e] * row[e];
            amax = fmax(amax, fabs(row[e]));
            const uint8_t *blk = src + (e / t->block_size) * t->type_size;
            float want = spec_value(ti->type, blk, (int)(e % t->block_size));
            if (memcmp(&want, &row[e], 4) != 0 && bad++ < 3) {
                fprintf(stderr, "%s row %llu value %llu: %.9g, spec says %.9g\n", ti->name,
                        (unsigned long long)r, (unsigned long long)e, row[e], want);
            }
        }
    }
    free(row);
    double n = (double)ti->ne0 * (double)ti->nrows;
    double mean = sum / n, std = sqrt(sum2 / n - mean * mean);
    s->tensors++;
    s->spec_mismatches += bad;
    s->max_abs_mean = fmax(s->max_abs_mean, fabs(mean));
    s->min_std = fmin(s->min_std, std);
    s->max_std = fmax(s->max_std, std);
    s->max_abs = fmax(s->max_abs, amax);
}

static void report(const char *name, const summary *s) {
    printf("%s: %d tensors, |mean| <= %.5f, std %.4f..%.4f, |max| %.4f, %d spec mismatches\n", name,
           s->tensors, s->max_abs_mean, s->min_std, s->max_std, s->max_abs, s->spec_mismatches);
}

int main(void) {
    const char *path = mbt_shared_path_or_skip("models/llama-125m-Q4_K_M.gguf");
    size_t size = 0;
    uint8_t *file = (uint8_t *)mbt_read_file(path, &size);
    CHECK(file != NULL);
    if (!file) return mbt_finish();
    static tensor_info tensors[512];
    uint64_t data_start = 0;
    int n = read_directory(file, size, tensors, 512, &data_start);
    CHECK_MSG(n > 0, "could not read the tensor directory of %s", path);

    summary q4k = {0, 0, 0, INFINITY, 0, 0}, q6k = q4k, f32 = q4k;
    for (int i = 0; i < n; i++) {
        summary *s = tensors[i].type == MB_TYPE_Q4_K   ? &q4k
                     : tensors[i].type == MB_TYPE_Q6_K ? &q6k
                     : tensors[i].type == MB_TYPE_F32  ? &f32
                                                       : NULL;
        CHECK_MSG(s != NULL, "%s: unexpected type %s", tensors[i].name,
                  mb_type_name(tensors[i].type));
        if (s) check_tensor(file + data_start, size - data_start, &tensors[i], s);
    }
    report("Q4_K", &q4k);
    report("Q6_K", &q6k);
    report("F32", &f32);
    /* Q4_K_M: most matrices Q4_K, some (output, attn_v, ffn_down) Q6_K. */
    CHECK(q4k.tensors >= 50 && q6k.tensors >= 10 && f32.tensors >= 20);
    CHECK_EQ_INT(q4k.spec_mismatches, 0);
    CHECK_EQ_INT(q6k.spec_mismatches, 0);
    /* synth_gguf.py draws the weights with std 0.0300 and |x| < 0.125 (its
     * fp16 exponent table); 4- and 6-bit noise moves the std by under 1%,
     * while a wrong scale or bit position would move it far more. */
    const summary *qs[2] = {&q4k, &q6k};
    for (int i = 0; i < 2; i++) {
        CHECK(qs[i]->max_abs_mean < 0.002);
        CHECK(qs[i]->min_std > 0.0285 && qs[i]->max_std < 0.0315);
        CHECK(qs[i]->max_abs < 0.15);
    }
    free(file);
    return mbt_finish();
}
