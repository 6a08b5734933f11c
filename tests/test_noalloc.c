/* The hot path allocates nothing and creates no thread: every heap
 * allocation made while tokens are decoded (session eval of one token,
 * sampling, accepting; and mb_generate's decode loop) is counted, by any
 * thread, and the count must be zero; the process's threads are counted
 * before and after.
 *
 * Release builds replace malloc and friends in this executable (glibc lets a
 * program do that) and forward to glibc's own entry points. Under ASan the
 * sanitizer owns malloc, so its allocation hooks count instead. */
#include <dirent.h>
#include <stdatomic.h>

#include "tensor/types.h"
#include "test_util.h"

static atomic_int counting;
static atomic_long n_allocs, n_frees;

static inline void note_alloc(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
}
static inline void note_free(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&n_frees, 1, memory_order_relaxed);
}

#ifdef MB_SANITIZE_BUILD
/* From the sanitizers' allocator_interface.h (not shipped with every gcc). */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static void on_malloc(const volatile void *p, size_t n) {
    (void)p;
    (void)n;
    note_alloc();
}
static void on_free(const volatile void *p) {
    (void)p;
    note_free();
}
static int install_hooks(void) {
    return __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
}
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);
void __libc_free(void *p);

void *malloc(size_t n) {
    note_alloc();
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size) {
    note_alloc();
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n) {
    note_alloc();
    return __libc_realloc(p, n);
}
void free(void *p) {
    if (p) note_free();
    __libc_free(p);
}
void *aligned_alloc(size_t align, size_t n) {
    note_alloc();
    return __libc_memalign(align, n);
}
void *memalign(size_t align, size_t n) {
    note_alloc();
    return __libc_memalign(align, n);
}
int posix_memalign(void **out, size_t align, size_t n) {
    note_alloc();
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return 22; /* EINVAL */
    void *p = __libc_memalign(align, n);
    if (!p && n > 0) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
static int install_hooks(void) {
    return 1;
}
#endif

/* Proves the counter sees the malloc the libraries call. */
static int install_counter(void) {
    if (!install_hooks()) return 0;
    atomic_store(&counting, 1);
    void *volatile p = malloc(16);
    free(p);
    atomic_store(&counting, 0);
    long seen = atomic_exchange(&n_allocs, 0);
    atomic_store(&n_frees, 0);
    return seen == 1;
}

static void window_open(void) {
    atomic_store(&n_allocs, 0);
    atomic_store(&n_frees, 0);
    atomic_store(&counting, 1);
}
static void window_close(void) {
    atomic_store(&counting, 0);
}

/* Threads of this process, from /proc/self/task (-1 if unreadable). */
static int count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

typedef struct {
    int n_tokens;
} gen_user;

/* The first token callback comes after the prefill: from there on, only the
 * decode loop runs. */
static int on_token(mb_token id, const float *logits, int n_vocab, void *user) {
    (void)id;
    (void)logits;
    (void)n_vocab;
    gen_user *g = user;
    if (g->n_tokens++ == 0) window_open();
    return 0;
}

/* An abort callback that never stops: polling it allocates nothing either. */
static int count_polls(void *user) {
    (*(long *)user)++;
    return 0;
}

static void check_model(const char *path, int n_threads, float temperature) {
    mb_model *m = NULL;
    CHECK_OK(mb_model_load(path, NULL, &m));
    if (!m) return;
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 256;
    sp.n_threads = n_threads;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &sp, &s));
    mb_sampler_params smp_p = mb_sampler_default_params();
    smp_p.temperature = temperature; /* > 0: the top-k / top-p / min-p path sorts */
    smp_p.seed = 3;
    mb_sampler *smp = NULL;
    CHECK_OK(mb_sampler_new(&smp_p, mb_model_n_vocab(m), &smp));
    if (!s || !smp) goto done;
    long polls = 0;
    mb_session_set_abort(s, count_polls, &polls);

    mb_token prompt[100];
    for (int i = 0; i < 100; i++)
        prompt[i] = 3 + (i * 37) % 256; /* byte tokens */
    CHECK_OK(mb_session_eval(s, prompt, 8));
    int threads_before = count_threads();
    CHECK_MSG(threads_before >= n_threads, "%d threads for a pool of %d", threads_before,
              n_threads);

    /* Decode step by step, as a caller's own loop does. */
    window_open();
    mb_status st = MB_OK;
    for (int i = 0; i < 48 && st == MB_OK; i++) {
        mb_token id = mb_sampler_sample(smp, mb_session_logits(s));
        mb_sampler_accept(smp, id);
        st = mb_session_eval(s, &id, 1);
    }
    window_close();
    CHECK_OK(st);
    CHECK_MSG(atomic_load(&n_allocs) == 0 && atomic_load(&n_frees) == 0,
              "%s, %d threads: %ld allocations and %ld frees in 48 decode steps", path, n_threads,
              atomic_load(&n_allocs), atomic_load(&n_frees));
    CHECK_EQ_INT(count_threads(), threads_before);

    /* A prefill of more than one batch reuses the planned buffers too. */
    CHECK_OK(mb_session_rewind(s, 0));
    window_open();
    st = mb_session_eval(s, prompt, 100);
    window_close();
    CHECK_OK(st);
    CHECK_MSG(atomic_load(&n_allocs) == 0, "%ld allocations in a 100-token prefill",
              atomic_load(&n_allocs));

    /* An embedding (mb_session_embed) reads the planned buffers too. */
    float *embd = malloc((size_t)mb_model_n_embd(m) * sizeof *embd);
    window_open();
    st = mb_session_embed(s, prompt, 100, MB_POOL_MEAN, 1, embd);
    window_close();
    CHECK_OK(st);
    CHECK_MSG(atomic_load(&n_allocs) == 0, "%ld allocations in a 100-token embedding",
              atomic_load(&n_allocs));
    free(embd);

    /* mb_generate's decode loop: sampling, detokenizing, stop strings. */
    CHECK_OK(mb_session_rewind(s, 0));
    const char *stop[] = {"zzzzzz", NULL};
    gen_user g = {0};
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = 40;
    gp.stop = stop;
    gp.on_token = on_token;
    gp.user = &g;
    mb_generate_stats stats;
    st = mb_generate(s, smp, prompt, 8, &gp, &stats);
    window_close();
    CHECK_OK(st);
    CHECK(g.n_tokens > 1);
    CHECK_MSG(atomic_load(&n_allocs) == 0 && atomic_load(&n_frees) == 0,
              "%ld allocations and %ld frees in mb_generate's decode loop (%d tokens)",
              atomic_load(&n_allocs), atomic_load(&n_frees), g.n_tokens);
    CHECK_EQ_INT(count_threads(), threads_before);
    CHECK_MSG(polls > 48, "the abort callback was polled %ld times", polls);
done:
    mb_sampler_free(smp);
    mb_session_free(s);
    mb_model_free(m);
}

int main(void) {
    if (!install_counter()) mbt_skip("the allocation counter could not be installed");
    const char *dir = mbt_tmpdir();
    const uint32_t types[] = {MB_TYPE_F32, MB_TYPE_Q8_0};
    for (int k = 0; k < 2; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/tiny-%d.gguf", dir, k);
        mbt_tiny_model cfg = {.n_embd = 64,
                              .n_layer = 2,
                              .n_head = 4,
                              .n_head_kv = 2,
                              .n_ff = 160,
                              .n_ctx = 256,
                              .weight_type = types[k],
                              .seed = 7 + k};
        CHECK_OK(mbt_write_tiny_model(path, &cfg));
        for (int t = 1; t <= 2; t++) {
            check_model(path, t, 0.8f);
            check_model(path, t, 0.0f);
        }
    }
    return mbt_finish();
}
