/* A persistent pool of worker threads. A job is N tasks of one function,
 * task i called as fn(ctx, i, N); work is split by the job itself, usually
 * by rows. Tasks are claimed by whichever thread is free, caller included, so
 * a late worker never holds up a step: each task index runs exactly once,
 * never twice at the same time, but not necessarily on thread i (scratch
 * indexed by i is safe; thread-local state is not). Nothing is created or
 * allocated per job: workers spin briefly on the job word, then sleep on a
 * condition variable, so a decode step costs atomic handshakes, not thread
 * creation. */
#ifndef MB_CORE_THREADPOOL_H
#define MB_CORE_THREADPOOL_H

#include "matchbox.h"

typedef struct mb_threadpool mb_threadpool;
typedef void (*mb_job_fn)(void *ctx, int ith, int nth);

/* N_THREADS counts the caller: 1 creates no thread. */
mb_status mb_threadpool_new(int n_threads, mb_threadpool **out);
void mb_threadpool_free(mb_threadpool *pool);
int mb_threadpool_size(const mb_threadpool *pool);

/* Run tasks 0..N-1 of FN (N is capped at size) on the pool and the caller,
 * and wait until all are done. N <= 1 runs fn(ctx, 0, 1) on the caller. */
void mb_threadpool_run(mb_threadpool *pool, int n, mb_job_fn fn, void *ctx);

/* A buffer of at least BYTES (64-byte aligned) that belongs to task index
 * ITH and lives until the pool is freed; grown on demand, so it may move
 * between calls (never during one). Only the task running as ITH may use
 * it. NULL if it cannot be allocated (the caller falls back). */
void *mb_threadpool_scratch(mb_threadpool *pool, int ith, size_t bytes);

/* The default thread count, >= 1: the physical cores (distinct core ids in
 * sysfs; on ARM the big cores only, mb_cpu_big_cores) among the CPUs this
 * process may run on (sched_getaffinity), capped by its cgroup's CPU quota
 * (mb_cpu_default_threads in cpu_budget.c). */
int mb_physical_cores(void);

/* [begin, end) of N items for thread ITH of NTH. */
static inline void mb_split_range(long n, int ith, int nth, long *begin, long *end) {
    long per = (n + nth - 1) / nth;
    *begin = per * ith < n ? per * ith : n;
    *end = *begin + per < n ? *begin + per : n;
}

#endif
