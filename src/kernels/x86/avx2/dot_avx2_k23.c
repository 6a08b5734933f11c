/* AVX2 dots of Q2_K and Q3_K weights with Q8_K activations. */
#include "kernels/x86/dot_k23.h"
#include "kernels/x86/avx2/int_avx2.h"
#include "kernels/x86/dot_k23_body.h"
