/* Peak RSS under a memory budget: a model of 25 MB run under a budget of
 * 10 MiB peaks (VmHWM) at most 1.05 x (budget + KV cache) + the runtime's
 * fixed scratch above the process's RSS before loading. The scratch is
 * everything the runtime allocates that is neither weights nor KV cache:
 * the vocabulary, the session's activation buffers, per-thread attention
 * scratch, logits (measured here as the heap allocated by load + session
 * less the layer buffers, expert cache and KV cache, which are counted in
 * the budget and KV terms), and 1 MiB for the two threads' stacks and the
 * kernel's page rounding. Runs in a child process, so that writing the
 * model does not count. */
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

enum { BUDGET = 10 << 20, SLACK = 1 << 20 };

static long status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* Bytes malloc has handed out (glibc's counters; the test needs them). */
static uint64_t heap_in_use(void) {
#ifdef HAVE_MALLINFO2
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
#else
    return 0;
#endif
}

/* The child: 0 when the peak is within the bound. */
static int measure(const char *path) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f || fputs("5", f) < 0 || fclose(f) != 0) return 77; /* no peak reset */
    const long rss0 = status_kib("VmRSS");
    const uint64_t heap0 = heap_in_use();
    mb_model_params mp = mb_model_default_params();
    mp.mem_budget = BUDGET;
    mb_model *m = NULL;
    if (mb_model_load(path, &mp, &m)) return fprintf(stderr, "%s\n", mb_last_error()), 2;
    mb_stream_stats ss;
    mb_model_stream_stats(m, &ss);
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = 64;
    sp.n_threads = 2;
    mb_session *s = NULL;
    if (mb_session_new(m, &sp, &s)) return fprintf(stderr, "%s\n", mb_last_error()), 2;
    mb_token prompt[8] = {10, 20, 30, 40, 50, 60, 70, 80};
    mb_status st = mb_session_eval(s, prompt, 8);
    for (int i = 0; !st && i < 8; i++) {
        mb_token t = (mb_token)(90 + i);
        st = mb_session_eval(s, &t, 1);
    }
    if (st) return fprintf(stderr, "%s\n", mb_last_error()), 2;
    const double hwm = (double)status_kib("VmHWM") * 1024, base = (double)rss0 * 1024;
    const double kv = (double)mb_session_kv_bytes(s);
    const double heap = (double)(heap_in_use() - heap0);
    const double scratch = heap - kv - (double)ss.buffer_bytes - (double)ss.expert_cache_bytes;
    const double bound = 1.05 * (BUDGET + kv) + scratch + SLACK;
    fprintf(stderr,
            "plan: %s\npeak %.2f MiB above %.2f MiB before loading; bound %.2f MiB = 1.05 x "
            "(budget %.2f + KV %.2f) + scratch %.2f + %.2f\nweights %.2f MiB in the file\n",
            ss.plan, (hwm - base) / 1048576, base / 1048576, bound / 1048576,
            (double)BUDGET / 1048576, kv / 1048576, scratch / 1048576, (double)SLACK / 1048576,
            (double)mb_model_weight_bytes(m) / 1048576);
    const int ok = ss.n_resident_layers < ss.n_layer && hwm - base <= bound &&
                   (double)mb_model_weight_bytes(m) > 2.0 * BUDGET;
    mb_session_free(s);
    mb_model_free(m);
    return ok ? 0 : 1;
}

int main(void) {
#ifndef HAVE_MALLINFO2
    mbt_skip("needs glibc's mallinfo2 to measure the scratch");
#endif
#ifdef MB_SANITIZE_BUILD
    /* The sanitizer's allocator keeps the heap out of mallinfo2 (and its
     * shadow memory out of any RSS bound). */
    mbt_skip("a sanitizer build's RSS and heap are not the program's");
#endif
    char path[512];
    snprintf(path, sizeof path, "%s/rss.gguf", mbt_tmpdir());
    unsetenv("MATCHBOX_STREAM"); /* the default, pread into buffers */
    mbt_tiny_model cfg = {.n_embd = 256,
                          .n_layer = 8,
                          .n_head = 8,
                          .n_head_kv = 4,
                          .n_ff = 768,
                          .n_ctx = 128,
                          .seed = 9};
    CHECK_OK(mbt_write_tiny_model(path, &cfg));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(measure(path));
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) mbt_skip("/proc/self/clear_refs cannot reset the peak RSS");
    CHECK_EQ_INT(WEXITSTATUS(status), 0);
    return mbt_finish();
}
