#include "runtime/log_softmax.h"

#include <math.h>

double mb_log_sum_exp(const float *z, int n, float scale) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        max = z[i] * scale > max ? z[i] * scale : max;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)(z[i] * scale) - max);
    return max + log(sum);
}

double mb_log_softmax(const float *z, int n, float *out) {
    const double log_z = mb_log_sum_exp(z, n, 1.0f);
    /* Each z[i] is read before out[i] is written: OUT may alias Z. */
    for (int i = 0; out && i < n; i++)
        out[i] = (float)((double)z[i] - log_z);
    return log_z;
}
