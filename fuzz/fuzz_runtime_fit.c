/* libFuzzer target for the memory plan (runtime/mem_plan.c) behind
 * `matchbox fit`: any GGUF the reader accepts, with any hyper-parameters its
 * metadata claims, is planned or refused with a message, never a crash or
 * undefined behaviour (UBSan), for a few configurations: default, a long
 * context with quantized KV and several slots, a budget, tiny RAM. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "format/gguf.h"
#include "runtime/mem_plan.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_gguf *g = NULL;
    if (mb_gguf_parse(data, size, "fuzz", &g) != MB_OK) return 0;
    mb_mem_model m;
    if (mb_mem_model_read(g, NULL, &m) != MB_OK) {
        if (mb_last_error()[0] == '\0') __builtin_trap();
        mb_gguf_close(g);
        return 0;
    }
    mb_fit_params p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = mb_fit_default_params();
        p[i].ram = 1ull << 30;
        p[i].n_threads = 2;
        p[i].mem_gbs = 10;
    }
    p[1].n_ctx = 1 << 20;
    p[1].kv_type_k = 8;
    p[1].kv_type_v = 2;
    p[1].n_slots = 4;
    p[1].swa_full = 1;
    p[2].mem_budget = 1 << 20;
    p[2].use_mmap = 1;
    p[3].ram = 4096;
    for (int i = 0; i < 4; i++) {
        mb_fit_result r;
        char buf[1024];
        mb_mem_plan(&m, &p[i], &r);
        if (r.fits && r.total > r.ram) __builtin_trap();
        mb_mem_describe(&r, buf, sizeof buf);
        sink += strlen(buf) + mb_fit_suggest(&r, buf, sizeof buf) +
                mb_fit_verdict(&r, buf, sizeof buf) + r.total;
    }
    mb_gguf_close(g);
    return 0;
}
