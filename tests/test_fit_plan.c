/* The memory plan (runtime/mem_plan.c, public matchbox/fit.h) in-process:
 * the forward pass's buffers and KV cache as planned are what
 * mb_forward_state_new allocates (heap bytes counted by glibc); the largest
 * context it reports fits and one more does not; KV types scale the cache;
 * a session too large for MemAvailable is refused with the plan's parts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/file_map.h"
#include "matchbox/fit.h"
#include "model/forward.h"
#include "runtime/mem_plan.h"
#include "tensor/types.h"
#include "test_util.h"

static mb_model *write_and_load(const char *name, mbt_tiny_model cfg) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.gguf", mbt_tmpdir(), name);
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    CHECK_OK(mb_model_load(path, &mp, &m));
    return m;
}

/* Heap bytes mb_forward_state_new takes against the plan's KV + buffers:
 * with every allocation on the heap (no mmap threshold), the difference is
 * only malloc's per-chunk overhead and aligned_alloc's padding. */
static void check_buffers(const mb_model *m, int n_ctx, int n_threads) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)) &&          \
    !defined(MB_SANITIZE_BUILD)
    const int n_batch = mb_mem_n_batch(n_ctx);
    const uint64_t plan = mb_mem_kv_bytes(&m->hp, n_ctx, n_batch, 0, MB_TYPE_F16, MB_TYPE_F16) +
                          mb_forward_buffer_bytes(&m->hp, n_ctx, n_batch, n_threads, 0);
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    const size_t before = mallinfo2().uordblks;
    mb_forward_state *s = NULL;
    CHECK_OK(mb_forward_state_new(m, n_ctx, n_batch, n_threads, 0, MB_TYPE_F16, MB_TYPE_F16, &s));
    const size_t used = mallinfo2().uordblks - before - sizeof *s;
    mb_forward_state_free(s);
    /* About 30 allocations, each at most 64 bytes of padding and 16 of header. */
    const double diff = (double)used - (double)plan;
    CHECK_MSG(diff >= 0 && diff <= 30 * 96,
              "%s: forward state allocates %zu bytes, the plan says %llu (n_ctx %d, %d threads)",
              m->hp.arch, used, (unsigned long long)plan, n_ctx, n_threads);
#else
    (void)m, (void)n_ctx, (void)n_threads;
    printf("note: heap accounting needs glibc 2.33 and no sanitizer: skipped\n");
#endif
}

static void check_max_ctx(const char *path) {
    mb_fit_params p = mb_fit_default_params();
    p.n_ctx = 64;
    p.n_threads = 2;
    p.base_bytes = 8 << 20; /* fixed, so that plans compare exactly */
    p.use_mmap = 0;         /* not chosen by the RAM given */
    p.ram = 1ull << 40;
    mb_fit_result r, a, b;
    CHECK_OK(mb_fit(path, &p, &r));
    CHECK(r.fits && r.total > r.weights + r.kv);
    /* RAM just short of a context of 200: the largest that fits is below it. */
    p.n_ctx = 200;
    CHECK_OK(mb_fit(path, &p, &r));
    p.ram = r.total - 1;
    CHECK_OK(mb_fit(path, &p, &r));
    CHECK(!r.fits && r.max_ctx > 0 && r.max_ctx < 200);
    char hint[128];
    CHECK(mb_fit_suggest(&r, hint, sizeof hint) > 0 && strstr(hint, "-c "));
    p.n_ctx = r.max_ctx;
    CHECK_OK(mb_fit(path, &p, &a));
    p.n_ctx = r.max_ctx + 1;
    CHECK_OK(mb_fit(path, &p, &b));
    CHECK_MSG(a.fits && !b.fits, "max_ctx %d: fits %d, one more fits %d", r.max_ctx, a.fits,
              b.fits);
    /* KV types: Q8_0 34 bytes per 32 values, Q4_0 18, F16 64. */
    p.n_ctx = 128;
    p.ram = 1ull << 40;
    CHECK_OK(mb_fit(path, &p, &a));
    p.kv_type_k = p.kv_type_v = MB_TYPE_Q8_0;
    CHECK_OK(mb_fit(path, &p, &b));
    CHECK(b.kv * 64 == a.kv * 34);
    p.kv_type_k = p.kv_type_v = MB_TYPE_Q4_0;
    CHECK_OK(mb_fit(path, &p, &b));
    CHECK(b.kv * 64 == a.kv * 18);
    p.kv_type_k = 3; /* Q4_1: not a KV type */
    CHECK_EQ_INT(mb_fit(path, &p, &b), MB_ERR_INVALID_ARG);
}

/* A context whose cache cannot fit in MemAvailable is refused with the parts
 * and a context that fits. */
static void check_refusal(mb_model *m) {
    const uint64_t avail = mb_mem_available();
    const int n_ctx = 1 << 24;
    const uint64_t kv = mb_mem_kv_bytes(&m->hp, n_ctx, 512, 0, MB_TYPE_F16, MB_TYPE_F16);
    if (avail == 0 || kv < 2 * avail) {
        printf("note: MemAvailable %llu holds the test's cache: refusal not checked\n",
               (unsigned long long)avail);
        return;
    }
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = n_ctx;
    mb_session *s = NULL;
    CHECK_EQ_INT(mb_session_new(m, &sp, &s), MB_ERR_NO_MEMORY);
    CHECK(s == NULL);
    const char *e = mb_last_error();
    CHECK_MSG(strstr(e, "does not fit: needs") && strstr(e, "KV") && strstr(e, "activations") &&
                  strstr(e, "try -c "),
              "refusal: %s", e);
}

int main(void) {
    mbt_tiny_model dense = {.n_embd = 128,
                            .n_layer = 8,
                            .n_head = 4,
                            .n_head_kv = 4,
                            .n_ff = 256,
                            .n_ctx = 256,
                            .weight_type = MB_TYPE_F32,
                            .seed = 3};
    mb_model *m = write_and_load("dense", dense);
    if (m) {
        check_buffers(m, 256, 2);
        check_buffers(m, 100, 1);
        check_refusal(m);
        mb_model_free(m);
    }
    mbt_tiny_model moe = dense;
    moe.n_expert = 4;
    moe.n_expert_used = 2;
    moe.n_layer = 2;
    if ((m = write_and_load("moe", moe))) {
        check_buffers(m, 128, 2);
        mb_model_free(m);
    }
    mbt_tiny_model swa = dense;
    swa.sliding_window = 32;
    swa.n_layer = 2;
    if ((m = write_and_load("swa", swa))) {
        check_buffers(m, 256, 2);
        mb_model_free(m);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/dense.gguf", mbt_tmpdir());
    check_max_ctx(path);
    return mbt_finish();
}
