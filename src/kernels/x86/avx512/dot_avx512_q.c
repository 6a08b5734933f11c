/* AVX-512 dots (VNNI or not: int_avx512.h) of Q8_0 weights with Q8_0 activations (Q4_0 has its
 * own file, q4_0_avx512.c). */
#define MBX_OWN_Q4_0
#include "kernels/x86/avx512/dot_avx512.h"
#include "kernels/x86/avx512/int_avx512.h"
#include "kernels/x86/dot_q_body.h"
