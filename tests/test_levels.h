/* The kernel levels a test compares with the reference, so that a level
 * this CPU lacks shows up in ctest as skipped, not passed.
 *
 * usage: test_X [LEVEL]. With LEVEL (a SIMD level as MATCHBOX_CPU names
 * them) only that level is checked, and the test exits 77 (ctest: skipped)
 * when this CPU or build lacks it; without one, every level this CPU runs.
 * CMakeLists.txt registers test_X_LEVEL for each SIMD level of the build's
 * architecture (MB_SIMD_LEVELS), so a run lists what it covered and what it
 * skipped (docs/TESTING.md, "Kernel levels"). */
#ifndef MB_TESTS_TEST_LEVELS_H
#define MB_TESTS_TEST_LEVELS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "test_util.h"

/* Every SIMD level of any architecture, lowest first per architecture. */
static const char *const mbt_simd_level_names[] = {"avx2",        "avx512", "avx512-vnni",
                                                   "avx512-bf16", "neon",   "neon-dotprod"};
#define MBT_N_SIMD_LEVELS ((int)(sizeof mbt_simd_level_names / sizeof mbt_simd_level_names[0]))

/* Fills LEVELS (room for MBT_N_SIMD_LEVELS) with the SIMD levels to check
 * and returns their count: argv[1]'s level (skipping the test if this CPU
 * lacks it; an unknown name fails), or every supported one. */
static inline int mbt_simd_levels(int argc, char **argv, const mb_kernel_table **levels) {
    if (argc > 1) {
        int known = 0;
        for (int i = 0; i < MBT_N_SIMD_LEVELS; i++)
            known |= strcmp(argv[1], mbt_simd_level_names[i]) == 0;
        if (!known) {
            fprintf(stderr, "unknown kernel level %s\n", argv[1]);
            exit(2);
        }
        if (!(levels[0] = mb_kernels_level(argv[1]))) {
            char why[96];
            snprintf(why, sizeof why, "kernel level %s: not supported by this CPU", argv[1]);
            mbt_skip(why);
        }
        printf("level tested against ref: %s\n", argv[1]);
        return 1;
    }
    int n = 0;
    printf("levels tested against ref:");
    for (int i = 0; i < MBT_N_SIMD_LEVELS; i++)
        if ((levels[n] = mb_kernels_level(mbt_simd_level_names[i])))
            printf(" %s", levels[n++]->name);
    printf("\n");
    return n;
}

/* The one level a test of a single table checks: argv[1] ("ref" without
 * one); the test is skipped (exit 77) where this CPU or build lacks it. */
static inline const mb_kernel_table *mbt_level_arg(int argc, char **argv, const char **name) {
    *name = argc > 1 ? argv[1] : "ref";
    const mb_kernel_table *t = mb_kernels_level(*name);
    if (!t) {
        char why[96];
        snprintf(why, sizeof why, "kernel level %s: not supported by this CPU or build", *name);
        mbt_skip(why);
    }
    return t;
}

#endif
