/* AVX-512 (VNNI) dots of Q8_0 and Q4_0 weights with Q8_0 activations. */
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/dot_q_body.h"
