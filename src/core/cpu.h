/* What the CPU running this process can execute, detected once. A feature
 * counts only when both the CPU has it and the OS saves its register state
 * on context switch (XGETBV), or an AVX instruction would fault even on a
 * CPU that advertises it. */
#ifndef MB_CORE_CPU_H
#define MB_CORE_CPU_H

typedef struct {
    int avx2, fma, f16c, bmi2;                 /* the "avx2" level */
    int avx512f, avx512bw, avx512vl, avx512dq; /* the "avx512" level (Skylake-X) */
    int avx512vnni; /* "avx512-vnni": VPDPBUSD for the 8-bit dots (Cascade/Ice Lake) */
    int avx512bf16; /* "avx512-bf16": also VDPBF16PS for the BF16 dot (Cooper Lake, Zen 4) */
    int neon, neon_dotprod; /* aarch64: AdvSIMD ("neon"), SDOT/UDOT (HWCAP_ASIMDDP) */
} mb_cpu_features;

/* The features of this CPU (x86: CPUID; aarch64: the kernel's HWCAP, which
 * already accounts for what the OS enables). Thread-safe. */
const mb_cpu_features *mb_cpu_get(void);

/* Whether this CPU runs kernel level NAME: "ref" (always), "avx2", "avx512"
 * (F/BW/VL/DQ), "avx512-vnni" (+VNNI), "avx512-bf16" (+VNNI+BF16), "neon",
 * "neon-dotprod". Each level needs every feature of the ones before it on
 * its architecture. 0 for an unknown name. */
int mb_cpu_has_level(const char *name);

/* The best kernel level the CPU supports: "avx512-bf16", "avx512-vnni",
 * "avx512", "avx2", "neon-dotprod", "neon" or "ref". */
const char *mb_cpu_best_level(void);

/* The number of big cores under SYSFS_CPU (normally "/sys/devices/system/cpu",
 * a fake tree in tests): the online cpuN whose cpu_capacity (or, without it,
 * cpufreq/cpuinfo_max_freq) is the highest. On a homogeneous CPU that is every
 * core. 0 when neither file can be read for any CPU. */
int mb_cpu_big_cores(const char *sysfs_cpu);

#endif
