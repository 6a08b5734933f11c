/* CPU feature detection: CPUID + XGETBV on x86-64, HWCAP on aarch64; other
 * targets report none. */
#include "core/cpu.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static mb_cpu_features features;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0: which register states the OS saves. Read with the raw opcode form
 * of XGETBV so this file needs no -mxsave. */
static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    /* The vendor string is EBX, EDX, ECX. */
    features.intel = b == 0x756E6547u && d == 0x49656E69u && c == 0x6C65746Eu;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    const int fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    const uint64_t xcr0 = read_xcr0();
    const int os_avx = (xcr0 & 0x6) == 0x6;      /* SSE and AVX state */
    const int os_avx512 = (xcr0 & 0xE6) == 0xE6; /* plus opmask, ZMM0-15 upper, ZMM16-31 */
    if (!os_avx) return;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    features.avx2 = (b >> 5) & 1;
    features.bmi2 = (b >> 8) & 1;
    features.fma = fma;
    features.f16c = f16c;
    if (os_avx512) {
        features.avx512f = (b >> 16) & 1;
        features.avx512dq = (b >> 17) & 1;
        features.avx512bw = (b >> 30) & 1;
        features.avx512vl = (b >> 31) & 1;
        features.avx512vnni = (c >> 11) & 1;
        /* The sparse dots use VBMI's VPERMT2B with VBMI2's VPEXPANDB. */
        features.avx512vbmi2 = ((c >> 6) & 1) && ((c >> 1) & 1);
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        features.avx512bf16 = (a1 >> 5) & 1;
    }
}
#elif defined(__aarch64__)
#include <sys/auxv.h>

/* The kernel's HWCAP bits (asm/hwcap.h); spelled out for old headers. */
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif

static void detect(void) {
    const unsigned long hw = getauxval(AT_HWCAP);
    features.neon = (hw & HWCAP_ASIMD) != 0;
    features.neon_dotprod = features.neon && (hw & HWCAP_ASIMDDP) != 0;
}
#else
static void detect(void) {}
#endif

const mb_cpu_features *mb_cpu_get(void) {
    pthread_once(&once, detect);
    return &features;
}

int mb_cpu_has_level(const char *name) {
    const mb_cpu_features *f = mb_cpu_get();
    const int avx2 = f->avx2 && f->fma && f->f16c && f->bmi2;
    const int avx512 = avx2 && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq;
    const int vnni = avx512 && f->avx512vnni;
    if (!strcmp(name, "ref")) return 1;
    if (!strcmp(name, "avx2")) return avx2;
    if (!strcmp(name, "avx512")) return avx512;
    if (!strcmp(name, "avx512-vnni")) return vnni;
    if (!strcmp(name, "avx512-bf16")) return vnni && f->avx512bf16;
    if (!strcmp(name, "neon")) return f->neon;
    if (!strcmp(name, "neon-dotprod")) return f->neon && f->neon_dotprod;
    return 0;
}

const char *mb_cpu_best_level(void) {
    static const char *const order[] = {"avx512-bf16", "avx512-vnni",  "avx512",
                                        "avx2",        "neon-dotprod", "neon"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (mb_cpu_has_level(order[i])) return order[i];
    return "ref";
}
