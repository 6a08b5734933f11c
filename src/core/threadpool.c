#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spins before sleeping: long enough to cover the gap between two matrix
 * products of a decode step, short enough not to burn a core when idle. */
enum { SPIN_LIMIT = 1 << 16 };

struct mb_threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_uint generation; /* bumped once per job */
    atomic_int pending;     /* workers still running the current job */
    atomic_int sleepers;
    atomic_bool quit;
    mb_job_fn fn;
    void *ctx;
    int n_active;
};

typedef struct {
    mb_threadpool *pool;
    int index;
} worker_arg;

static worker_arg *worker_args(mb_threadpool *p) {
    return (worker_arg *)(p->threads + p->n_threads);
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    mb_threadpool *p = wa->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load(&p->quit)) {
            if (++spins < SPIN_LIMIT) {
                CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->mutex);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->wake, &p->mutex);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mutex);
            spins = 0;
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = gen;
        if (wa->index < p->n_active) p->fn(p->ctx, wa->index, p->n_active);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
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
    free(p->threads);
    free(p);
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
    p->fn = fn;
    p->ctx = ctx;
    p->n_active = n;
    /* Every worker wakes per job (those past n_active just return), so the
     * generation counter is the only shared state they wait on. */
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    fn(ctx, 0, n);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        CPU_RELAX();
}

int mb_physical_cores(void) {
    /* Count distinct (package, core) pairs from sysfs topology. */
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (n_cpu < 1) return 1;
    int seen_pairs[1024][2];
    int n_pairs = 0;
    for (long cpu = 0; cpu < n_cpu && cpu < 1024; cpu++) {
        char path[128];
        int ids[2] = {0, 0};
        const char *names[2] = {"physical_package_id", "core_id"};
        int ok = 1;
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/%s", cpu,
                     names[k]);
            FILE *f = fopen(path, "r");
            if (!f || fscanf(f, "%d", &ids[k]) != 1) ok = 0;
            if (f) fclose(f);
        }
        if (!ok) return (int)n_cpu;
        int dup = 0;
        for (int i = 0; i < n_pairs; i++)
            if (seen_pairs[i][0] == ids[0] && seen_pairs[i][1] == ids[1]) dup = 1;
        if (!dup) {
            seen_pairs[n_pairs][0] = ids[0];
            seen_pairs[n_pairs][1] = ids[1];
            n_pairs++;
        }
    }
    return n_pairs > 0 ? n_pairs : 1;
}
