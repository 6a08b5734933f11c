/* AVX-512 dots (VNNI or not: int_avx512.h) of Q4_K, Q5_K and Q6_K weights with Q8_K activations. */
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/dot_k_body.h"
