/* The public planner (matchbox/fit.h): a GGUF's header and tensor table
 * through the memory model (mem_plan.c), a suggestion, a verdict. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/file_map.h"
#include "core/params.h"
#include "runtime/mem_plan.h"
#include "tensor/types.h"

mb_fit_params mb_fit_default_params(void) {
    return (mb_fit_params){.struct_size = sizeof(mb_fit_params),
                           .n_slots = 1,
                           .kv_type_k = MB_TYPE_F16,
                           .kv_type_v = MB_TYPE_F16,
                           .use_mmap = -1};
}

static int kv_type_ok(int t) {
    return t == MB_TYPE_F16 || t == MB_TYPE_Q8_0 || t == MB_TYPE_Q4_0;
}

mb_status mb_fit(const char *path, const mb_fit_params *params, mb_fit_result *out) {
    memset(out, 0, sizeof *out);
    mb_fit_params p = mb_fit_default_params();
    mb_status st = mb_params_merge(&p, params, sizeof p,
                                   MB_PARAMS_SIZE_UPTO(mb_fit_params, disk_gbs), "mb_fit_params");
    if (st) return st;
    if (p.n_ctx < 0 || p.n_ctx > (1 << 24) || p.n_slots < 0 || p.n_slots > 256 || p.n_threads < 0 ||
        p.n_threads > 1024)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "context %d (0..%d), slots %d (1..256) or threads %d (0..1024)", p.n_ctx,
                         1 << 24, p.n_slots, p.n_threads);
    if (!kv_type_ok(p.kv_type_k) || !kv_type_ok(p.kv_type_v))
        return mb_errorf(MB_ERR_INVALID_ARG, "KV types %s/%s: f16, q8_0 or q4_0",
                         mb_type_name((uint32_t)p.kv_type_k), mb_type_name((uint32_t)p.kv_type_v));
    if (p.ram == 0 && (p.ram = mb_mem_available()) == 0)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "MemAvailable is unknown here: give the RAM to plan for");
    /* Mapped: only the header's pages are read, never the tensor data. */
    mb_gguf *g = NULL;
    if ((st = mb_gguf_open(path, 1, 0, &g))) return st;
    mb_mem_model m;
    st = mb_mem_model_read(g, NULL, &m);
    if (!st && g->n_tensors == 0)
        st = mb_errorf(MB_ERR_FORMAT, "the file has no tensors (a vocab-only file?)");
    mb_gguf_close(g);
    if (st) return mb_error_prefix(st, "%s", path);
    mb_mem_plan(&m, &p, out);
    return MB_OK;
}

/* Appends to BUF at *USED, never past CAP. */
static void add(char *buf, size_t cap, size_t *used, const char *fmt, ...) {
    if (*used >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n < cap - *used ? (size_t)n : cap - *used - 1;
}

static const char *kv_name(int t) {
    return t == MB_TYPE_Q8_0 ? "q8_0" : t == MB_TYPE_Q4_0 ? "q4_0" : "f16";
}

/* A size for a message: MiB below 1 GiB, GiB above. */
static void size_str(uint64_t b, char *buf, size_t cap) {
    if (b < (1ull << 30))
        snprintf(buf, cap, "%.1f MiB", (double)b / (1 << 20));
    else
        snprintf(buf, cap, "%.2f GiB", (double)b / (1 << 30));
}

size_t mb_fit_suggest(const mb_fit_result *r, char *buf, size_t cap) {
    size_t used = 0;
    if (cap) buf[0] = '\0';
    if (!cap || r->fits) return 0;
    const char *sep = "";
    if (r->max_ctx > 0 && r->max_ctx < r->n_ctx) {
        /* A round number below the largest that fits. */
        int c = r->max_ctx >= 512 ? r->max_ctx / 256 * 256 : r->max_ctx;
        add(buf, cap, &used, "-c %d", c);
        sep = ", or ";
    }
    if (r->kv_fit_type) {
        add(buf, cap, &used, "%s--kv-type %s", sep, kv_name(r->kv_fit_type));
        sep = ", or ";
    }
    if (r->n_slots > 1 && r->max_slots > 0 && r->max_slots < r->n_slots) {
        add(buf, cap, &used, "%s--slots %d", sep, r->max_slots);
        sep = ", or ";
    }
    if (r->fit_budget)
        add(buf, cap, &used, "%s--mem-budget %lluM", sep,
            (unsigned long long)(r->fit_budget >> 20));
    return used;
}

size_t mb_fit_verdict(const mb_fit_result *r, char *buf, size_t cap) {
    size_t used = 0;
    if (cap) buf[0] = '\0';
    if (!cap) return 0;
    char total[32], ram[32], budget[32];
    size_str(r->total, total, sizeof total);
    size_str(r->ram, ram, sizeof ram);
    if (r->fits) {
        if (r->weights_mode == MB_FIT_WEIGHTS_STREAMED) {
            size_str(r->mem_budget, budget, sizeof budget);
            add(buf, cap, &used, "runs streamed under a budget of %s: peak %s of %s", budget, total,
                ram);
        } else {
            add(buf, cap, &used, "runs resident (weights %s): peak %s of %s",
                r->weights_mode == MB_FIT_WEIGHTS_MEMORY ? "in memory" : "mapped", total, ram);
        }
        if (r->tok_s > 0)
            add(buf, cap, &used, ", ~%.1f tok/s decode (%.1f at a full context)", r->tok_s,
                r->tok_s_full);
        return used;
    }
    add(buf, cap, &used, "does not fit: needs %s, %s available", total, ram);
    if (r->fit_budget) {
        add(buf, cap, &used, "; runs streamed with --mem-budget %lluM",
            (unsigned long long)(r->fit_budget >> 20));
        if (r->fit_budget_tok_s > 0) add(buf, cap, &used, " at ~%.1f tok/s", r->fit_budget_tok_s);
    }
    char s[256];
    if (mb_fit_suggest(r, s, sizeof s))
        add(buf, cap, &used, "; try %s", s);
    else if (!r->fit_budget)
        add(buf, cap, &used, "; nothing makes it fit in %s", ram);
    return used;
}
