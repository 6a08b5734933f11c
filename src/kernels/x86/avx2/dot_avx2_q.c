/* AVX2 dots of Q8_0 and Q4_0 weights with Q8_0 activations. */
#include "kernels/x86/avx2/dot_avx2.h"
#include "kernels/x86/avx2/int_avx2.h"
#include "kernels/x86/dot_q_body.h"
