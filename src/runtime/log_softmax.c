#include "runtime/log_softmax.h"

#include <math.h>

double mb_log_softmax(const float *z, int n, float *out) {
    float max = z[0];
    for (int i = 1; i < n; i++)
        max = z[i] > max ? z[i] : max;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += exp((double)z[i] - max);
    const double log_z = max + log(sum);
    for (int i = 0; out && i < n; i++)
        out[i] = (float)((double)z[i] - log_z);
    return log_z;
}
