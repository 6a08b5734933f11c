/* Chooses the kernel table once per process. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

static mb_kernel_table ref_table;
static const mb_kernel_table *chosen;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void build_ref(void) {
    ref_table.name = "ref";
    for (uint32_t t = 0; t < MB_TYPE_COUNT; t++) {
        const mb_dot_traits *dt = mb_ref_dot_traits(t);
        if (dt) ref_table.dot[t] = *dt;
        ref_table.act_quant[t] = mb_ref_act_quant(t);
    }
}

static void choose(void) {
    build_ref();
    chosen = &ref_table;
    const char *want = getenv("MATCHBOX_CPU");
    if (want && *want && strcmp(want, "ref") != 0)
        fprintf(stderr, "warning: MATCHBOX_CPU=%s is not available here; using %s\n", want,
                chosen->name);
}

const mb_kernel_table *mb_kernels(void) {
    pthread_once(&once, choose);
    return chosen;
}

const mb_kernel_table *mb_kernels_ref(void) {
    pthread_once(&once, choose);
    return &ref_table;
}

const char *mb_kernels_name(void) {
    return mb_kernels()->name;
}
