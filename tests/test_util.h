/* A tiny test harness: CHECK macros that count, a summary line in the form
 * ctest and CI read ("N passed, N failed"), and exit code 77 for a skip. */
#ifndef MB_TEST_UTIL_H
#define MB_TEST_UTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchbox.h"

extern int mbt_passed, mbt_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            mbt_passed++;                                                                          \
        } else {                                                                                   \
            mbt_failed++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (cond) {                                                                                \
            mbt_passed++;                                                                          \
        } else {                                                                                   \
            mbt_failed++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        CHECK_MSG(va_ == vb_, "%lld != %lld", va_, vb_);                                           \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double va_ = (double)(a), vb_ = (double)(b);                                               \
        CHECK_MSG(fabs(va_ - vb_) <= (tol), "%.9g vs %.9g (tol %g)", va_, vb_, (double)(tol));     \
    } while (0)

/* Expect STATUS_EXPR to be MB_OK; print mb_last_error() otherwise. */
#define CHECK_OK(status_expr)                                                                      \
    do {                                                                                           \
        mb_status st_ = (status_expr);                                                             \
        CHECK_MSG(st_ == MB_OK, "%s: %s", mb_status_str(st_), mb_last_error());                    \
    } while (0)

/* Print the summary and return the process exit code. */
int mbt_finish(void);
/* Print why and exit 77 (ctest: skipped). */
void mbt_skip(const char *why);

/* ../shared, or $MATCHBOX_SHARED; NULL if absent. */
const char *mbt_shared_dir(void);
/* A path under ../shared, or skip the test with a message when it is absent. */
const char *mbt_shared_path_or_skip(const char *rel);
/* A fresh temporary directory for this test (removed by the OS's tmp cleaner). */
const char *mbt_tmpdir(void);
/* Read a whole file (NUL-terminated, *len set). NULL on failure. */
char *mbt_read_file(const char *path, size_t *len);
/* Run a shell command; returns its exit status. */
int mbt_system(const char *fmt, ...);

/* Deterministic PRNG for test inputs. */
uint64_t mbt_rand_u64(uint64_t *state);
float mbt_rand_float(uint64_t *state); /* uniform in [-1, 1) */

/* Write a tiny random llama model (F32 weights unless WEIGHT_TYPE says
 * otherwise and has a reference encoder) with a byte-level SPM vocab of 256 +
 * 3 tokens, to PATH. dims: n_embd, n_layer, n_head, n_head_kv, n_ff, ctx. */
typedef struct {
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    uint32_t weight_type;
    uint64_t seed;
    /* Optional architecture features; all zero gives a plain llama model. */
    const char *arch; /* NULL: "llama"; or "qwen2" */
    int qkv_bias;     /* attn_q/k/v.bias: 0 none, 1 random, 2 zero, 3 random Q/K + zero V */
    int n_expert, n_expert_used; /* > 0: ffn_gate_inp + ffn_*_exps instead of ffn_* */
    int sliding_window;          /* > 0: written as <arch>.attention.sliding_window */
} mbt_tiny_model;
mb_status mbt_write_tiny_model(const char *path, const mbt_tiny_model *cfg);
/* A session of M with N_CTX positions on 2 threads (two, so that the
 * thread split is exercised); NULL after a failed check. */
mb_session *mbt_session(mb_model *m, int n_ctx);
/* A calibration text of 40 numbered English lines at PATH; 0 on success. */
int mbt_write_calib_text(const char *path);

#endif
