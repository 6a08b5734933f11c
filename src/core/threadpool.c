#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"
#include "error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* A worker waits for the next job by spinning SPIN_PAUSES times, then
 * yielding its core until SPIN_LIMIT, then sleeping on the condition
 * variable: the whole wait covers the gap between two matrix products of a
 * decode step. Yielding matters on a machine busier than the pool: a worker
 * that only spins takes CPU time from the thread that will publish the next
 * job (measured on 2 busy cores, llama-125m Q4_K_M: 2 threads decoded 90
 * tok/s spinning vs 175 yielding, 1 thread 175). With nothing else to run,
 * sched_yield returns at once, so an idle machine loses nothing. */
enum { SPIN_PAUSES = 64, SPIN_LIMIT = 1 << 14 };
/* Spins of the caller waiting for the last task before it starts yielding. */
enum { WAIT_SPINS = 1 << 8 };

/* A job is N tasks, task i being fn(ctx, i, N). Tasks are claimed from one
 * atomic word by whichever thread comes first, the caller included: a worker
 * that is late (asleep, or its core taken by another process) leaves its
 * task to the others instead of holding up the step, which is what made two
 * threads slower than one on a busy machine. The word holds the job's
 * generation, its task count and the next task to claim, so a claim can
 * never mix one job's task index with another job's function. */
static inline uint64_t job_word(uint32_t gen, uint32_t n, uint32_t next) {
    return (uint64_t)gen << 32 | (uint64_t)n << 16 | next;
}
static inline uint32_t word_gen(uint64_t w) {
    return (uint32_t)(w >> 32);
}
static inline uint32_t word_n(uint64_t w) {
    return (uint32_t)(w >> 16) & 0xffff;
}
static inline uint32_t word_next(uint64_t w) {
    return (uint32_t)w & 0xffff;
}

typedef struct {
    void *data;
    size_t bytes;
} mb_pool_scratch;

struct mb_threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    _Atomic uint64_t job; /* job_word(): generation, tasks, next task */
    atomic_int done;      /* tasks of the current job finished */
    atomic_int sleepers;
    atomic_int started; /* workers that reached worker_main */
    atomic_bool quit;
    _Atomic(mb_job_fn) fn;
    _Atomic(void *) ctx;
    uint32_t generation;      /* the caller's count of jobs published */
    mb_pool_scratch *scratch; /* n_threads buffers, one per task index */
};

typedef struct {
    mb_threadpool *pool;
    int index;
} worker_arg;

static worker_arg *worker_args(mb_threadpool *p) {
    return (worker_arg *)(p->threads + p->n_threads);
}

/* Run tasks of job generation GEN until none is left. fn and ctx are read
 * after the job word (so they are GEN's or newer) and before the claim; a
 * claim that succeeds proves the job was still GEN, and the caller publishes
 * a newer fn only once every task of GEN has been claimed and done. */
static void run_tasks(mb_threadpool *p, uint32_t gen) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&p->job, memory_order_acquire);
        if (word_gen(w) != gen || word_next(w) >= word_n(w)) return;
        mb_job_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
        if (!atomic_compare_exchange_weak_explicit(&p->job, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        fn(ctx, (int)word_next(w), (int)word_n(w));
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    mb_threadpool *p = wa->pool;
    atomic_fetch_add(&p->started, 1);
    uint32_t seen = 0;
    for (;;) {
        uint32_t gen;
        int spins = 0;
        while ((gen = word_gen(atomic_load_explicit(&p->job, memory_order_acquire))) == seen &&
               !atomic_load(&p->quit)) {
            if (++spins < SPIN_LIMIT) {
                if (spins < SPIN_PAUSES)
                    CPU_RELAX();
                else
                    sched_yield();
                continue;
            }
            pthread_mutex_lock(&p->mutex);
            atomic_fetch_add(&p->sleepers, 1);
            while (word_gen(atomic_load(&p->job)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->wake, &p->mutex);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mutex);
            spins = 0;
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = gen;
        run_tasks(p, gen);
    }
}

mb_status mb_threadpool_new(int n_threads, mb_threadpool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return mb_errorf(MB_ERR_INVALID_ARG, "thread count %d is out of range 1..1024", n_threads);
    mb_threadpool *p = calloc(1, sizeof *p);
    if (!p) return mb_errorf(MB_ERR_NO_MEMORY, "thread pool: out of memory");
    p->n_threads = n_threads;
    p->threads = calloc((size_t)n_threads, sizeof(pthread_t) + sizeof(worker_arg));
    if (!p->threads) {
        free(p);
        return mb_errorf(MB_ERR_NO_MEMORY, "thread pool: out of memory");
    }
    p->scratch = calloc((size_t)n_threads, sizeof *p->scratch);
    if (!p->scratch) {
        free(p->threads);
        free(p);
        return mb_errorf(MB_ERR_NO_MEMORY, "thread pool: out of memory");
    }
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = &worker_args(p)[i];
        wa->pool = p;
        wa->index = i;
        int rc = pthread_create(&p->threads[i], NULL, worker_main, wa);
        if (rc != 0) {
            p->n_threads = i; /* join only the ones that started */
            mb_threadpool_free(p);
            return mb_errorf(MB_ERR_NO_MEMORY, "thread pool: cannot start thread %d: %s", i,
                             strerror(rc));
        }
    }
    /* Return only once every worker runs: thread start-up (the C library's,
     * a sanitizer's) then never overlaps the first decode steps, which must
     * allocate nothing (tests/test_noalloc.c counts every thread's). */
    while (atomic_load(&p->started) < n_threads - 1)
        sched_yield();
    *out = p;
    return MB_OK;
}

void mb_threadpool_free(mb_threadpool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    for (int i = 0; i < p->n_threads; i++)
        free(p->scratch[i].data);
    free(p->scratch);
    free(p->threads);
    free(p);
}

void *mb_threadpool_scratch(mb_threadpool *p, int ith, size_t bytes) {
    if (ith < 0 || ith >= p->n_threads) return NULL;
    mb_pool_scratch *s = &p->scratch[ith];
    if (s->bytes >= bytes) return s->data;
    /* Grown by half again, so a run of slightly larger requests does not
     * reallocate each time; 64-byte aligned for the vector kernels. */
    size_t want = bytes + bytes / 2;
    want = (want + 63) / 64 * 64;
    void *d = aligned_alloc(64, want);
    if (!d) return NULL;
    free(s->data);
    s->data = d;
    s->bytes = want;
    return d;
}

int mb_threadpool_size(const mb_threadpool *p) {
    return p->n_threads;
}

void mb_threadpool_run(mb_threadpool *p, int n, mb_job_fn fn, void *ctx) {
    if (n > p->n_threads) n = p->n_threads;
    if (n <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    uint32_t gen = ++p->generation;
    if (gen == 0) gen = ++p->generation; /* 0 is what workers start out having seen */
    /* Sequentially consistent with the workers' sleepers count and recheck,
     * so a worker going to sleep either sees this job or is woken for it. */
    atomic_store(&p->job, job_word(gen, (uint32_t)n, 0));
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    run_tasks(p, gen);
    /* Spin, then yield: a worker that lost its core mid-task gets it back
     * sooner than if the caller spun out its time slice. With nothing else
     * to run, sched_yield returns at once. */
    for (int spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < n; spins++) {
        if (spins < WAIT_SPINS)
            CPU_RELAX();
        else
            sched_yield();
    }
}
