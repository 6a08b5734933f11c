/* AVX-512 dots (VNNI or not: int_avx512.h) of Q2_K and Q3_K weights with Q8_K activations. */
#include "kernels/x86/dot_k23.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/dot_k23_body.h"
