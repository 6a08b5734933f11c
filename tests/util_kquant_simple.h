/* The simple min/max K-quant encoders, a baseline for the searched ones. */
#ifndef MBT_KQUANT_SIMPLE_H
#define MBT_KQUANT_SIMPLE_H

#include <stdint.h>

void mbt_q2_k_simple(const float *src, void *dst, int64_t n);
void mbt_q3_k_simple(const float *src, void *dst, int64_t n);
void mbt_q4_k_simple(const float *src, void *dst, int64_t n);
void mbt_q5_k_simple(const float *src, void *dst, int64_t n);
void mbt_q6_k_simple(const float *src, void *dst, int64_t n);

#endif
