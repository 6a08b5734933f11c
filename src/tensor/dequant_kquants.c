/* Decoders of the K-quants (256-value super-blocks). The float expressions
 * keep ggml's order — the sub-block scale is formed first (d * sc, dmin * m)
 * and then applied to the code — because float multiplication is not
 * associative and the results must be bit-identical to llama.cpp's. */
#include "tensor/blocks.h"
#include "tensor/codecs.h"
#include "tensor/types.h"

void mb_q2_k_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q2_k *b = src;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        const float d = mb_fp16_to_fp32(b[i].d);
        const float dmin = mb_fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        /* Each half holds 32 bytes of codes; pass `shift` takes 2 bits of
         * every byte, first for bytes 0..15 then 16..31 (two sub-blocks). */
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++, is++) {
                    const float dl = d * (b[i].scales[is] & 0xF);
                    const float ml = dmin * (b[i].scales[is] >> 4);
                    const uint8_t *qp = q + 16 * part;
                    for (int l = 0; l < 16; l++)
                        *dst++ = dl * ((qp[l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

void mb_q3_k_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q3_k *b = src;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        const float d = mb_fp16_to_fp32(b[i].d);
        const uint8_t *q = b[i].qs;
        const uint8_t *hm = b[i].hmask;
        uint8_t mask = 1;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
                for (int part = 0; part < 2; part++, is++) {
                    const float dl = d * mb_q3k_scale(is, b[i].scales);
                    const uint8_t *qp = q + 16 * part;
                    const uint8_t *hp = hm + 16 * part;
                    for (int l = 0; l < 16; l++) {
                        const int v = ((qp[l] >> shift) & 3) - ((hp[l] & mask) ? 0 : 4);
                        *dst++ = dl * v;
                    }
                }
            }
        }
    }
}

void mb_q4_k_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q4_k *b = src;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        const float d = mb_fp16_to_fp32(b[i].d);
        const float dmin = mb_fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            mb_k4_scale_min(j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            mb_k4_scale_min(j + 1, b[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void mb_q5_k_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q5_k *b = src;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        const float d = mb_fp16_to_fp32(b[i].d);
        const float dmin = mb_fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        const uint8_t *qh = b[i].qh;
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc, m;
            mb_k4_scale_min(j, b[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            mb_k4_scale_min(j + 1, b[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const uint8_t bit1 = (uint8_t)(1u << j), bit2 = (uint8_t)(2u << j);
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * ((q[l] & 0xF) + (qh[l] & bit1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * ((q[l] >> 4) + (qh[l] & bit2 ? 16 : 0)) - m2;
        }
    }
}

void mb_q6_k_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q6_k *b = src;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        const float d = mb_fp16_to_fp32(b[i].d);
        const uint8_t *ql = b[i].ql;
        const uint8_t *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; half++, dst += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                dst[l] = d * sc[is] * q1;
                dst[l + 32] = d * sc[is + 2] * q2;
                dst[l + 64] = d * sc[is + 4] * q3;
                dst[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

void mb_q8_k_to_float(const void *src, float *dst, int64_t n) {
    const mb_block_q8_k *b = src;
    for (int64_t i = 0; i < n / MB_QK_K; i++) {
        for (int j = 0; j < MB_QK_K; j++)
            *dst++ = b[i].d * b[i].qs[j];
    }
}
