/* A STREAM-like read bandwidth test: every thread sums its own range of a
 * large anonymous buffer. Decode reads weights the same way (each thread a
 * band of rows, once per token), so this is the ceiling decode is held to. */
#include <string.h>
#include <sys/mman.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "core/timer.h"
#include "matchbox/eval.h"

/* 16-byte vectors: SSE2 on x86-64 and NEON on arm64 without any -m flag, and
 * enough to saturate memory (two loads per cycle are 32 bytes per cycle). */
typedef uint64_t v2u64 __attribute__((vector_size(16)));

enum { CHUNK = 64 }; /* bytes per loop step: four independent accumulators */

typedef struct {
    uint8_t *buf;
    uint64_t n_chunks;
    int write; /* first pass: touch the pages from the thread that reads them */
    v2u64 sums[64];
} bw_job;

static void bw_worker(void *ctx, int ith, int nth) {
    bw_job *j = ctx;
    long begin, end;
    mb_split_range((long)j->n_chunks, ith, nth, &begin, &end);
    const v2u64 *p = (const v2u64 *)(j->buf + (size_t)begin * CHUNK);
    size_t n = (size_t)(end - begin);
    if (j->write) {
        memset(j->buf + (size_t)begin * CHUNK, 1 + ith, n * CHUNK);
        return;
    }
    v2u64 a = {0, 0}, b = a, c = a, d = a;
    for (size_t i = 0; i < n; i++, p += 4) {
        a += p[0];
        b += p[1];
        c += p[2];
        d += p[3];
    }
    /* Published so the compiler cannot drop the loads. */
    j->sums[ith % 64] = a + b + c + d;
}

mb_status mb_bench_read_bandwidth(int n_threads, uint64_t bytes, int reps, double *gbs) {
    *gbs = 0;
    if (n_threads < 1 || reps < 1 || bytes < CHUNK || bytes > ((uint64_t)1 << 40))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "bandwidth test: %d threads, %llu bytes, %d repetitions is out of range",
                         n_threads, (unsigned long long)bytes, reps);
    uint64_t n_chunks = bytes / CHUNK;
    size_t size = (size_t)(n_chunks * CHUNK);
    void *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return mb_errorf(MB_ERR_NO_MEMORY, "bandwidth test: cannot allocate %zu bytes", size);
#ifdef MADV_HUGEPAGE
    /* The same backing decode gets for anonymous weights. */
    madvise(buf, size, MADV_HUGEPAGE);
#endif
    mb_threadpool *pool = NULL;
    mb_status st = mb_threadpool_new(n_threads, &pool);
    if (st) {
        munmap(buf, size);
        return st;
    }
    bw_job job = {.buf = buf, .n_chunks = n_chunks, .write = 1};
    mb_threadpool_run(pool, n_threads, bw_worker, &job);
    job.write = 0;
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = mb_now();
        mb_threadpool_run(pool, n_threads, bw_worker, &job);
        double dt = mb_now() - t0;
        if (dt > 0 && (double)size / dt > best) best = (double)size / dt;
    }
    mb_threadpool_free(pool);
    munmap(buf, size);
    *gbs = best / 1e9;
    return MB_OK;
}
