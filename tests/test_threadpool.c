/* The thread pool's contract: every task index of a job runs exactly once,
 * with the job's own context and task count, before mb_threadpool_run
 * returns; jobs back to back never mix; sizes and counts are honoured. */
#include <stdatomic.h>
#include <time.h>

#include "core/threadpool.h"
#include "test_util.h"

enum { MAX_TASKS = 8 };

typedef struct {
    int id;
    int nth_expected;
    atomic_int runs[MAX_TASKS];
    atomic_int bad_nth;
} job;

static void count_task(void *ctx, int ith, int nth) {
    job *j = ctx;
    if (nth != j->nth_expected || ith < 0 || ith >= nth) {
        atomic_fetch_add(&j->bad_nth, 1);
        return;
    }
    atomic_fetch_add(&j->runs[ith], 1);
}

/* Run many short jobs on fresh contexts, alternating task counts, and check
 * each one as soon as run returns: a task that ran late, twice, or with the
 * previous job's context shows up as a wrong count. */
static void check_jobs(mb_threadpool *pool, int size, int n_jobs) {
    int wrong = 0;
    for (int k = 0; k < n_jobs; k++) {
        int n = 1 + k % (size + 1); /* 1..size+1: past size is capped */
        job j = {.id = k, .nth_expected = n > size ? size : n};
        mb_threadpool_run(pool, n, count_task, &j);
        int expect_n = n <= 1 ? 1 : j.nth_expected;
        for (int i = 0; i < MAX_TASKS; i++)
            if (atomic_load(&j.runs[i]) != (i < expect_n ? 1 : 0)) wrong++;
        if (atomic_load(&j.bad_nth)) wrong++;
    }
    CHECK_MSG(wrong == 0, "pool of %d: %d wrong task counts in %d jobs", size, wrong, n_jobs);
}

/* Tasks doing real work of uneven length: the sums must be exact. */
typedef struct {
    const uint32_t *data;
    long n;
    uint64_t partial[MAX_TASKS];
} sum_job;

static void sum_task(void *ctx, int ith, int nth) {
    sum_job *j = ctx;
    long b, e;
    mb_split_range(j->n, ith, nth, &b, &e);
    uint64_t s = 0;
    for (long i = b; i < e; i++)
        s += j->data[i];
    j->partial[ith] = s;
}

static void check_sums(mb_threadpool *pool, int size) {
    enum { N = 100003 };
    static uint32_t data[N];
    uint64_t want = 0, rng = 5;
    for (long i = 0; i < N; i++) {
        data[i] = (uint32_t)mbt_rand_u64(&rng);
        want += data[i];
    }
    int bad = 0;
    for (int r = 0; r < 200; r++) {
        sum_job j = {.data = data, .n = N - r};
        uint64_t w = want;
        for (long i = N - r; i < N; i++)
            w -= data[i];
        mb_threadpool_run(pool, size, sum_task, &j);
        uint64_t got = 0;
        for (int i = 0; i < size; i++)
            got += j.partial[i];
        if (got != w) bad++;
    }
    CHECK_MSG(bad == 0, "pool of %d: %d wrong sums of 200", size, bad);
}

int main(void) {
    mb_threadpool *pool = NULL;
    CHECK(mb_threadpool_new(0, &pool) == MB_ERR_INVALID_ARG && pool == NULL);
    CHECK(mb_threadpool_new(2000, &pool) == MB_ERR_INVALID_ARG && pool == NULL);
    for (int size = 1; size <= 4; size++) {
        CHECK_OK(mb_threadpool_new(size, &pool));
        if (!pool) continue;
        CHECK_EQ_INT(mb_threadpool_size(pool), size);
        check_jobs(pool, size, 20000);
        check_sums(pool, size);
        mb_threadpool_free(pool);
        pool = NULL;
    }
    /* Workers that went to sleep (no job for a while) wake for the next one. */
    CHECK_OK(mb_threadpool_new(3, &pool));
    if (pool) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        check_jobs(pool, 3, 10);
        mb_threadpool_free(pool);
    }
    CHECK(mb_physical_cores() >= 1);
    return mbt_finish();
}
