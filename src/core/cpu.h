/* What the CPU running this process can execute, detected once. A feature
 * counts only when both the CPU has it and the OS saves its register state
 * on context switch (XGETBV), or an AVX instruction would fault even on a
 * CPU that advertises it. */
#ifndef MB_CORE_CPU_H
#define MB_CORE_CPU_H

typedef struct {
    int avx2, fma, f16c, bmi2;                 /* the "avx2" level */
    int avx512f, avx512bw, avx512vl, avx512dq; /* the "avx512" level ... */
    int avx512vnni, avx512bf16;                /* ... its 8-bit and BF16 dots */
} mb_cpu_features;

/* The features of this CPU (all zero on non-x86 builds). Thread-safe. */
const mb_cpu_features *mb_cpu_get(void);

/* The best kernel level the CPU supports: "avx512", "avx2" or "ref". */
const char *mb_cpu_best_level(void);

#endif
