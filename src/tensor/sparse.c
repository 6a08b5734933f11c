/* The sparse types' codecs and their consistency check (blocks.h gives the
 * layout, docs/FORMAT.md the file ids). */
#include <math.h>
#include <string.h>

#include "tensor/blocks.h"
#include "tensor/codecs.h"
#include "tensor/fp16.h"
#include "tensor/select.h"
#include "tensor/sparse.h"
#include "tensor/types.h"

/* Bits set in 64-bit words by SWAR (this layer is built without POPCNT;
 * the reader counts every block of a sparse file once). */
int mb_sparse_count(const uint8_t mask[MB_QK_SPARSE / 8]) {
    int n = 0;
    for (int i = 0; i < MB_QK_SPARSE / 64; i++) {
        uint64_t v;
        memcpy(&v, mask + 8 * i, 8);
        v = v - ((v >> 1) & 0x5555555555555555ull);
        v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
        v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0Full;
        n += (int)((v * 0x0101010101010101ull) >> 56);
    }
    return n;
}

/* Whether every pair code of an SQ4_24 block is one of the 36 choices. */
static int sq4_24_valid(const mb_block_sq4_24 *b) {
    for (int w = 0; w < MB_SQ4_24_IDX_BYTES / 6; w++) {
        const uint64_t word = mb_sq4_24_word(b, w);
        for (int j = 0; j < 8; j++)
            if (((word >> (6 * j)) & 63) >= 36) return 0;
    }
    return 1;
}

int64_t mb_sparse_check(uint32_t type, const void *data, uint64_t n_blocks) {
    if (type == MB_TYPE_SQ4_24) {
        const mb_block_sq4_24 *b = data;
        for (uint64_t i = 0; i < n_blocks; i++)
            if (!sq4_24_valid(&b[i])) return (int64_t)i;
        return -1;
    }
    const size_t size = type == MB_TYPE_SQ4 ? sizeof(mb_block_sq4) : sizeof(mb_block_sq8);
    const uint8_t *p = data;
    for (uint64_t b = 0; b < n_blocks; b++, p += size)
        if (mb_sparse_count(p) > MB_SPARSE_CAP) return (int64_t)b;
    return -1;
}

void mb_sq4_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_sq4 *b = src;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++, b++) {
        int k = 0;
        for (int j = 0; j < MB_QK_SPARSE; j++) {
            float v = 0.0f;
            if (mb_sparse_bit(b->mask, j) && k < MB_SPARSE_CAP) {
                const int nib = mb_sparse_nibble(b->qs, k);
                v = mb_half_to_float(b->d[j / 64]) * (float)(nib - 8);
                k++;
            }
            *dst++ = v;
        }
    }
}

void mb_sq8_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_sq8 *b = src;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++, b++) {
        int k = 0;
        for (int j = 0; j < MB_QK_SPARSE; j++) {
            float v = 0.0f;
            if (mb_sparse_bit(b->mask, j) && k < MB_SPARSE_CAP)
                v = mb_half_to_float(b->d[j / 64]) * (float)b->qs[k++];
            *dst++ = v;
        }
    }
}

/* The block's mask: its non-zeros, or the MB_SPARSE_CAP largest of them in
 * magnitude (ties to the lower index) when there are more. */
static void choose_mask(const float *x, uint8_t mask[MB_QK_SPARSE / 8]) {
    memset(mask, 0, MB_QK_SPARSE / 8);
    int n = 0;
    for (int j = 0; j < MB_QK_SPARSE; j++)
        n += x[j] != 0.0f;
    float cut = 0.0f; /* keep |x| > cut, and |x| == cut while room is left */
    int at_cut = MB_SPARSE_CAP;
    if (n > MB_SPARSE_CAP) {
        /* The cap-th largest magnitude, by selection over a copy. */
        float a[MB_QK_SPARSE];
        for (int j = 0; j < MB_QK_SPARSE; j++)
            a[j] = fabsf(x[j]);
        cut = mb_select_kth(a, MB_QK_SPARSE, MB_QK_SPARSE - MB_SPARSE_CAP);
        at_cut = MB_SPARSE_CAP;
        for (int j = 0; j < MB_QK_SPARSE; j++)
            at_cut -= fabsf(x[j]) > cut;
    }
    for (int j = 0; j < MB_QK_SPARSE; j++) {
        const float m = fabsf(x[j]);
        if (m == 0.0f) continue;
        if (n > MB_SPARSE_CAP && (m < cut || (m == cut && at_cut-- <= 0))) continue;
        mask[j >> 3] |= (uint8_t)(1u << (j & 7));
    }
}

/* The scale of each quarter: its kept value of largest magnitude maps to
 * LO (-8 for SQ4, as Q4_0 does; -127 for SQ8), so that value is exact. */
static void quarter_scales(const float *x, const uint8_t *mask, float lo, float id[4],
                           uint16_t d[4]) {
    for (int q = 0; q < 4; q++) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 64 * q; j < 64 * q + 64; j++)
            if (mb_sparse_bit(mask, j) && fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        const float s = lo == -127.0f ? amax / 127.0f : max / lo;
        d[q] = mb_fp32_to_fp16(s);
        id[q] = s != 0.0f ? 1.0f / s : 0.0f;
    }
}

void mb_sq4_from_float(const float *src, void *dst, int64_t n) {
    mb_block_sq4 *b = dst;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++, b++, src += MB_QK_SPARSE) {
        memset(b, 0, sizeof *b);
        choose_mask(src, b->mask);
        float id[4];
        quarter_scales(src, b->mask, -8.0f, id, b->d);
        int k = 0;
        for (int j = 0; j < MB_QK_SPARSE; j++) {
            if (!mb_sparse_bit(b->mask, j)) continue;
            float v = src[j] * id[j / 64] + 8.5f;
            const int q = v < 0.0f ? 0 : v > 15.0f ? 15 : (int)v;
            b->qs[k & 63] |= (uint8_t)(k < 64 ? q : q << 4);
            k++;
        }
    }
}

void mb_sq8_from_float(const float *src, void *dst, int64_t n) {
    mb_block_sq8 *b = dst;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++, b++, src += MB_QK_SPARSE) {
        memset(b, 0, sizeof *b);
        choose_mask(src, b->mask);
        float id[4];
        quarter_scales(src, b->mask, -127.0f, id, b->d);
        int k = 0;
        for (int j = 0; j < MB_QK_SPARSE; j++)
            if (mb_sparse_bit(b->mask, j)) b->qs[k++] = (int8_t)lrintf(src[j] * id[j / 64]);
    }
}

/* ---- SQ4_24 ------------------------------------------------------------- */

void mb_sq4_24_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_sq4_24 *b = src;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++, b++, dst += MB_QK_SPARSE) {
        memset(dst, 0, MB_QK_SPARSE * sizeof *dst);
        for (int k = 0; k < MB_SPARSE_CAP; k++) {
            dst[mb_sq4_24_pos(b, k)] +=
                mb_half_to_float(b->d[k / 32]) * (float)(mb_sparse_nibble(b->qs, k) - 8);
        }
    }
}

/* The SQ4 mask byte of SQ4_24's pair code (the eight weights of two
 * groups; bits of mb_sq4_24_choice's weights, codes past 35 as it reads
 * them). */
const uint8_t mb_sq4_24_pair_mask[64] = {
    0x33, 0x35, 0x39, 0x36, 0x3A, 0x3C, 0x53, 0x55, 0x59, 0x56, 0x5A, 0x5C, 0x93, 0x95, 0x99, 0x96,
    0x9A, 0x9C, 0x63, 0x65, 0x69, 0x66, 0x6A, 0x6C, 0xA3, 0xA5, 0xA9, 0xA6, 0xAA, 0xAC, 0xC3, 0xC5,
    0xC9, 0xC6, 0xCA, 0xCC, 0x33, 0x35, 0x39, 0x36, 0x3A, 0x3C, 0x33, 0x35, 0x39, 0x36, 0x3A, 0x3C,
    0x33, 0x35, 0x39, 0x36, 0x3A, 0x3C, 0x53, 0x55, 0x59, 0x56, 0x5A, 0x5C, 0x93, 0x95, 0x99, 0x96,
};

void mb_sq4_24_to_sq4(const void *src, void *dst, int64_t n_blocks) {
    const mb_block_sq4_24 *x = src;
    mb_block_sq4 *y = dst;
    for (int64_t i = 0; i < n_blocks; i++, x++, y++) {
        /* A 48-bit word of eight codes at a time. */
        for (int w = 0; w < MB_SQ4_24_IDX_BYTES / 6; w++) {
            const uint64_t word = mb_sq4_24_word(x, w);
            for (int j = 0; j < 8; j++)
                y->mask[8 * w + j] = mb_sq4_24_pair_mask[(word >> (6 * j)) & 63];
        }
        memcpy(y->d, x->d, sizeof y->d);
        memcpy(y->qs, x->qs, sizeof y->qs);
    }
}

/* The group choice (mb_sq4_24_choice) of weights LO < HI. */
static int choice(int lo, int hi) {
    return lo == 0 ? hi - 1 : lo == 1 ? hi + 1 : 5;
}

void mb_sq4_24_from_float(const float *src, void *dst, int64_t n) {
    mb_block_sq4_24 *b = dst;
    for (int64_t i = 0; i < n / MB_QK_SPARSE; i++, b++, src += MB_QK_SPARSE) {
        memset(b, 0, sizeof *b);
        /* The two kept of each group: the largest magnitudes, in order. */
        int pos[MB_SPARSE_CAP];
        for (int g = 0; g < MB_QK_SPARSE / 4; g++) {
            int first = 0;
            for (int j = 1; j < 4; j++)
                if (fabsf(src[4 * g + j]) > fabsf(src[4 * g + first])) first = j;
            int second = first == 0 ? 1 : 0;
            for (int j = 0; j < 4; j++)
                if (j != first && fabsf(src[4 * g + j]) > fabsf(src[4 * g + second])) second = j;
            const int lo = first < second ? first : second, hi = first ^ second ^ lo;
            pos[2 * g] = 4 * g + lo;
            pos[2 * g + 1] = 4 * g + hi;
        }
        for (int q = 0; q < 4; q++) {
            float amax = 0.0f, max = 0.0f;
            for (int k = 32 * q; k < 32 * q + 32; k++)
                if (fabsf(src[pos[k]]) > amax) amax = fabsf(src[pos[k]]), max = src[pos[k]];
            const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            b->d[q] = mb_fp32_to_fp16(d);
            for (int k = 32 * q; k < 32 * q + 32; k++) {
                const float v = src[pos[k]] * id + 8.5f;
                const int c = v < 0.0f ? 0 : v > 15.0f ? 15 : (int)v;
                b->qs[k & 63] |= (uint8_t)(k < 64 ? c : c << 4);
            }
        }
        /* The pair codes, eight to a 48-bit word. */
        for (int w = 0; w < MB_SQ4_24_IDX_BYTES / 6; w++) {
            uint64_t word = 0;
            for (int p = 8 * w; p < 8 * w + 8; p++)
                word |= (uint64_t)(choice(pos[4 * p] & 3, pos[4 * p + 1] & 3) +
                                   6 * choice(pos[4 * p + 2] & 3, pos[4 * p + 3] & 3))
                        << (6 * (p % 8));
            memcpy(b->idx + 6 * w, &word, 6); /* as mb_sq4_24_word reads it */
        }
    }
}
