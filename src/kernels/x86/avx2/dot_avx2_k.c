/* AVX2 dots of Q4_K, Q5_K and Q6_K weights with Q8_K activations. */
#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/avx2/int_avx2.h"
#include "kernels/x86/dot_k_body.h"
