#include "kernels/attention.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "kernels/kernels.h"
#include "tensor/types.h"

static float fp16_table[65536];
static pthread_once_t fp16_once = PTHREAD_ONCE_INIT;

static void build_fp16_table(void) {
    for (uint32_t i = 0; i < 65536; i++)
        fp16_table[i] = mb_fp16_to_fp32((uint16_t)i);
}

const float *mb_fp16_table(void) {
    pthread_once(&fp16_once, build_fp16_table);
    return fp16_table;
}

/* Both products go through the kernel table: q . K[j] is an F16 dot (Q
 * rounded to F16, as the reference does with an F16 cache: it keeps our
 * logits within 1e-5 of the reference's instead of 1e-4, measured on
 * stories260K), and the weighted sum of V rows an F16 axpy with each weight
 * rounded to F16 likewise. */
void mb_attention_head(const float *q, const uint16_t *k, const uint16_t *v, int64_t stride,
                       int n_kv, int hd, float scale, float *scores, float *out) {
    const mb_kernel_table *kt = mb_kernels();
    const mb_vec_dot_fn dot = kt->dot[MB_TYPE_F16].vec_dot;
    uint16_t q16[1024];
    kt->act_quant[MB_TYPE_F16](q, q16, hd);
    for (int j = 0; j < n_kv; j++) {
        float s;
        dot(hd, &s, k + j * stride, q16);
        scores[j] = s * scale;
    }
    mb_softmax(scores, n_kv);
    memset(out, 0, (size_t)hd * sizeof *out);
    for (int j = 0; j < n_kv; j++) {
        const float p = mb_fp16_to_fp32(mb_fp32_to_fp16(scores[j]));
        kt->axpy_f16(hd, out, p, v + j * stride);
    }
}
