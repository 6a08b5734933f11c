/* Chooses the kernel table once per process: the best level the CPU (and
 * OS) supports, or the one MATCHBOX_CPU names. Each level's table starts as
 * a copy of the reference table, so a type without a kernel at that level
 * falls back to the scalar one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchbox.h" /* mb_kernels_name is public: its MB_API declaration exports it */
#include "core/cpu.h"
#include "core/log.h"
#include "kernels/kernels.h"
#include "kernels/prefetch.h"
#if MB_ARCH_X86
#include "kernels/x86/x86_kernels.h"
#endif
#if MB_ARCH_ARM64
#include "kernels/arm/arm_kernels.h"
#endif

/* In order of preference: the best supported level wins. */
enum {
    LEVEL_REF,
    LEVEL_AVX2,
    LEVEL_AVX512,
    LEVEL_AVX512_VNNI,
    LEVEL_AVX512_BF16,
    LEVEL_NEON,
    LEVEL_NEON_DP,
    LEVEL_COUNT
};
static const char *const k_level_names[LEVEL_COUNT] = {
    "ref", "avx2", "avx512", "avx512-vnni", "avx512-bf16", "neon", "neon-dotprod"};

static mb_kernel_table tables[LEVEL_COUNT];
static int supported[LEVEL_COUNT];
static const mb_kernel_table *chosen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build_ref(mb_kernel_table *t) {
    t->name = "ref";
    for (uint32_t i = 0; i < MB_TYPE_COUNT; i++) {
        const mb_dot_traits *dt = mb_ref_dot_traits(i);
        if (dt) t->dot[i] = *dt;
        t->act_quant[i] = mb_ref_act_quant(i);
    }
    t->axpy_f16 = mb_ref_axpy_f16;
    t->kv_to_f16[MB_TYPE_Q8_0] = mb_ref_q8_0_to_f16;
    t->kv_to_f16[MB_TYPE_Q4_0] = mb_ref_q4_0_to_f16;
    t->gemm_nt_rows = mb_ref_gemm_nt_rows;
    t->q4_0_r16 = mb_ref_q4_0_r16;
    t->q4_k_r16 = mb_ref_q4_k_r16;
    t->q5_k_r16 = mb_ref_q5_k_r16;
    t->q6_k_r16 = mb_ref_q6_k_r16;
    t->r16_gather = mb_ref_r16_gather;
}

static void build_tables(void) {
    for (int l = 0; l < LEVEL_COUNT; l++)
        build_ref(&tables[l]);
    /* A level counts only where this build has its kernels and the CPU its
     * features. */
    for (int l = 0; l < LEVEL_COUNT; l++)
        supported[l] = mb_cpu_has_level(k_level_names[l]);
#if MB_ARCH_X86
    supported[LEVEL_NEON] = supported[LEVEL_NEON_DP] = 0;
    if (supported[LEVEL_AVX2]) mb_kernels_fill_avx2(&tables[LEVEL_AVX2]);
    for (int l = LEVEL_AVX512; l <= LEVEL_AVX512_BF16; l++)
        if (supported[l]) mb_kernels_fill_avx512(&tables[l], l - LEVEL_AVX512);
#elif MB_ARCH_ARM64
    for (int l = LEVEL_AVX2; l <= LEVEL_AVX512_BF16; l++)
        supported[l] = 0;
    if (supported[LEVEL_NEON]) mb_kernels_fill_neon(&tables[LEVEL_NEON], 0);
    if (supported[LEVEL_NEON_DP]) mb_kernels_fill_neon(&tables[LEVEL_NEON_DP], 1);
#else
    for (int l = LEVEL_AVX2; l < LEVEL_COUNT; l++)
        supported[l] = 0;
#endif
}

static int prefetch_on;

/* kernels/prefetch.h: on Intel unless MATCHBOX_PREFETCH says otherwise. */
static void choose_prefetch(void) {
    const char *env = getenv("MATCHBOX_PREFETCH");
    prefetch_on = env && *env ? strcmp(env, "0") != 0 : mb_cpu_get()->intel;
}

/* MATCHBOX_CPU names a level; older releases' "avx512" needed VNNI and
 * BF16 and now names the plain AVX-512 level (docs/USER_GUIDE.md). */
static void choose(void) {
    build_tables();
    choose_prefetch();
    int best = LEVEL_REF;
    for (int l = 0; l < LEVEL_COUNT; l++)
        if (supported[l]) best = l;
    chosen = &tables[best];
    const char *want = getenv("MATCHBOX_CPU");
    if (!want || !*want) return;
    for (int l = 0; l < LEVEL_COUNT; l++) {
        if (strcmp(want, k_level_names[l]) == 0 && supported[l]) {
            chosen = &tables[l];
            return;
        }
    }
    mb_log(MB_LOG_WARN, "warning: MATCHBOX_CPU=%s is not available on this CPU; using %s\n", want,
           chosen->name);
}

int mb_decode_prefetch(void) {
    pthread_once(&once, choose);
    return prefetch_on;
}

const mb_kernel_table *mb_kernels(void) {
    pthread_once(&once, choose);
    return chosen;
}

const mb_kernel_table *mb_kernels_ref(void) {
    pthread_once(&once, choose);
    return &tables[LEVEL_REF];
}

const mb_kernel_table *mb_kernels_level(const char *name) {
    pthread_once(&once, choose);
    for (int l = 0; l < LEVEL_COUNT; l++)
        if (strcmp(name, k_level_names[l]) == 0) return supported[l] ? &tables[l] : NULL;
    return NULL;
}

const char *mb_kernels_name(void) {
    return mb_kernels()->name;
}
