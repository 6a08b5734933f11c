/* Per-tensor type planning: --tensor-type overrides (quantize/override.c),
 * the knapsack solver of --target-bpw against brute force
 * (alloc_solve.c), and --target-bpw end to end on a tiny model with one
 * tensor made far more sensitive than the rest (alloc.c): the file meets
 * the size and the sensitive tensor gets the most bits. */
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "quantize/alloc.h"
#include "quantize/quantize.h"
#include "tensor/types.h"
#include "test_util.h"

static uint32_t type_of(const char *path, const char *name) {
    mb_gguf *g = NULL;
    uint32_t t = 9999;
    if (mb_gguf_open(path, 1, 0, &g) != MB_OK) return t;
    const mb_gguf_tensor *x = mb_gguf_find_tensor(g, name);
    if (x) t = x->type;
    mb_gguf_close(g);
    return t;
}

static void test_overrides(const char *model, const char *dir) {
    char out[512];
    snprintf(out, sizeof out, "%s/plan-ov.gguf", dir);
    mb_quant_overrides *ov = NULL;
    CHECK_OK(mb_quant_overrides_new(&ov));
    CHECK_OK(mb_quant_overrides_add(ov, "attn_v=Q8_0"));
    CHECK_OK(mb_quant_overrides_add(ov, "blk\\.1\\.ffn_down=q6_k"));
    CHECK_OK(mb_quant_overrides_add(ov, "ffn_down=Q2_K")); /* after the rule above: layer 0 only */
    CHECK_OK(mb_quant_overrides_set_role(ov, 1, "Q5_K"));
    CHECK_OK(mb_quant_overrides_set_role(ov, 0, "Q4_0"));
    CHECK_EQ_INT(mb_quant_overrides_count(ov), 5);
    mb_quantize_params p = {.n_threads = 1, .overrides = ov};
    mb_quantize_stats s;
    p.type = "Q4_K_M";
    CHECK_OK(mb_quantize_file(model, out, &p, &s));
    CHECK_EQ_INT(type_of(out, "blk.0.attn_v.weight"), MB_TYPE_Q8_0);
    CHECK_EQ_INT(type_of(out, "blk.1.attn_v.weight"), MB_TYPE_Q8_0);
    CHECK_EQ_INT(type_of(out, "blk.1.ffn_down.weight"), MB_TYPE_Q6_K);
    CHECK_EQ_INT(type_of(out, "blk.0.ffn_down.weight"), MB_TYPE_Q2_K);
    CHECK_EQ_INT(type_of(out, "output.weight"), MB_TYPE_Q5_K);
    CHECK_EQ_INT(type_of(out, "token_embd.weight"), MB_TYPE_Q4_0);
    CHECK_EQ_INT(type_of(out, "blk.0.attn_q.weight"), MB_TYPE_Q4_K);   /* the preset's */
    CHECK_EQ_INT(type_of(out, "blk.0.attn_norm.weight"), MB_TYPE_F32); /* never a norm */
    mb_quant_overrides_free(ov);

    /* Bad rules name the problem. */
    CHECK_OK(mb_quant_overrides_new(&ov));
    CHECK(mb_quant_overrides_add(ov, "attn_v=Q9_K") == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "Q9_K") != NULL);
    CHECK(mb_quant_overrides_add(ov, "attn_v[=Q4_K") == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "bad pattern") != NULL);
    CHECK(mb_quant_overrides_add(ov, "attn_v") == MB_ERR_INVALID_ARG);
    CHECK(mb_quant_overrides_add(ov, "=Q4_K") == MB_ERR_INVALID_ARG);
    CHECK(mb_quant_overrides_set_role(ov, 1, "nope") == MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(mb_quant_overrides_count(ov), 0);
    mb_quant_overrides_free(ov);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* The solver against every combination of small random instances: within
 * the budget, -1 when nothing fits, and no worse than the optimum by more
 * than the largest single step of one item (the bound of a greedy on
 * convex hulls); on most instances it finds the optimum itself. */
static void test_solver(void) {
    enum { N = 5, C = 4, TRIALS = 300 };
    int exact = 0, within = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        mb_alloc_item it[N];
        double max_step = 0;
        uint64_t lo = 0, hi = 0;
        for (int i = 0; i < N; i++) {
            it[i].n_cand = C;
            uint64_t b = 100 + mbt_rand_u64(&rng) % 100;
            double c = 1 + 10 * (mbt_rand_float(&rng) + 1);
            for (int k = 0; k < C; k++) {
                it[i].bits[k] = b;
                it[i].cost[k] = c;
                b += 20 + mbt_rand_u64(&rng) % 80;
                const double next = c * (0.2 + 0.35 * (mbt_rand_float(&rng) + 1));
                if (c - next > max_step) max_step = c - next;
                c = next;
            }
            lo += it[i].bits[0];
            hi += it[i].bits[C - 1];
        }
        const uint64_t budget = lo + mbt_rand_u64(&rng) % (hi - lo + 1);
        int choice[N];
        CHECK_EQ_INT(mb_alloc_solve(it, N, budget, choice), 0);
        double cost = 0, best = 1e300;
        uint64_t used = 0;
        for (int i = 0; i < N; i++)
            cost += it[i].cost[choice[i]], used += it[i].bits[choice[i]];
        CHECK(used <= budget);
        for (int code = 0; code < 1024; code++) { /* C^N = 4^5 */
            double c = 0;
            uint64_t b = 0;
            for (int i = 0, x = code; i < N; i++, x /= C)
                c += it[i].cost[x % C], b += it[i].bits[x % C];
            if (b <= budget && c < best) best = c;
        }
        exact += cost <= best + 1e-12;
        within += cost <= best + max_step + 1e-12;
        if (trial == 0) CHECK_EQ_INT(mb_alloc_solve(it, N, lo - 1, choice), -1);
    }
    CHECK_EQ_INT(within, TRIALS);
    CHECK_MSG(exact >= TRIALS * 7 / 10, "optimum found in %d of %d instances", exact, TRIALS);
    /* A budget for everything: each item's cheapest-cost candidate. */
    mb_alloc_item one = {.n_cand = 3, .bits = {10, 20, 30}, .cost = {5, 1, 2}};
    int ch = -1;
    CHECK_EQ_INT(mb_alloc_solve(&one, 1, 100, &ch), 0);
    CHECK_EQ_INT(ch, 1);
}

/* Multiply tensor NAME of the F32 model at PATH by F, in place. */
static int scale_tensor(const char *path, const char *name, float factor) {
    mb_gguf *g = NULL;
    if (mb_gguf_open(path, 1, 0, &g) != MB_OK) return 0;
    const mb_gguf_tensor *t = mb_gguf_find_tensor(g, name);
    const long off = t ? (long)(t->data - (const uint8_t *)g->map.data) : -1;
    const size_t n = t ? (size_t)(t->nbytes / 4) : 0;
    mb_gguf_close(g);
    float *v = malloc(n * sizeof *v);
    FILE *f = fopen(path, "r+b");
    int ok = v && f && off > 0 && fseek(f, off, SEEK_SET) == 0 && fread(v, 4, n, f) == n;
    for (size_t i = 0; ok && i < n; i++)
        v[i] *= factor;
    ok = ok && fseek(f, off, SEEK_SET) == 0 && fwrite(v, 4, n, f) == n;
    if (f) ok = fclose(f) == 0 && ok;
    free(v);
    return ok;
}

static void test_target_bpw(const char *model, const char *text, const char *dir) {
    char out[512];
    snprintf(out, sizeof out, "%s/plan-bpw.gguf", dir);
    const double target = 4.5;
    mb_alloc_params ap = {.model_path = model,
                          .calib_path = text,
                          .calib_chunks = 4,
                          .calib_ctx = 32,
                          .n_threads = 1,
                          .target_bpw = target};
    mb_alloc *a = NULL;
    CHECK_OK(mb_alloc_new(&ap, &a));
    mb_quant_planner pl;
    mb_alloc_planner(a, &pl);
    mb_quantize_params p = {.n_threads = 1};
    mb_quantize_stats s;
    p.type = "Q4_K_M";
    CHECK_OK(mb_quantize_run(model, out, &p, NULL, &pl, &s));
    const double bpw = 8.0 * (double)s.bytes_out / (double)s.n_weights;
    CHECK_MSG(bpw <= target && bpw > target - 0.25, "planned %.3f bpw for a target of %.3f", bpw,
              target);
    CHECK(mb_alloc_predicted_kld(a) > 0);
    mb_alloc_free(a);
    /* The sensitive tensor got the most bits among the matrices of its
     * shape, strictly more than most. */
    const mb_type_traits *hot = mb_type_get(type_of(out, "blk.0.ffn_down.weight"));
    int below = 0, above = 0, n_types = 0, n_other = 0;
    uint32_t seen[8] = {0};
    for (int l = 0; l < 2; l++) {
        const char *names[] = {"attn_q", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        for (int k = 0; k < 5; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, names[k]);
            const uint32_t t = type_of(out, name);
            const mb_type_traits *tr = mb_type_get(t);
            CHECK(tr != NULL && hot != NULL);
            if (!tr || !hot) continue;
            if (strcmp(name, "blk.0.ffn_down.weight") != 0) {
                /* bits per weight compared as type_size / block_size */
                const uint64_t bits_t = (uint64_t)tr->type_size * hot->block_size;
                const uint64_t bits_h = (uint64_t)hot->type_size * tr->block_size;
                below += bits_t < bits_h;
                above += bits_t > bits_h;
                n_other++;
            }
            int known = 0;
            for (int i = 0; i < n_types; i++)
                known |= seen[i] == t;
            if (!known && n_types < 8) seen[n_types++] = t;
        }
    }
    CHECK_MSG(above == 0 && below >= n_other - 2,
              "of %d same-shape matrices, %d got more bits and %d fewer than the sensitive one",
              n_other, above, below);
    CHECK_MSG(n_types >= 2, "one type for all; the plan did not differentiate");
    /* The untied token_embd is looked up, never multiplied: no input
     * statistics, yet its damage counts (it used to plan as free: Q2_K). */
    CHECK(type_of(out, "token_embd.weight") != MB_TYPE_Q2_K);

    /* A size below what the fixed tensors allow: an error, no file. */
    snprintf(out, sizeof out, "%s/plan-small.gguf", dir);
    ap.target_bpw = 1.0;
    CHECK_OK(mb_alloc_new(&ap, &a));
    mb_alloc_planner(a, &pl);
    p.type = "Q4_K_M";
    CHECK(mb_quantize_run(model, out, &p, NULL, &pl, &s) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "below the smallest") != NULL);
    FILE *f = fopen(out, "rb");
    CHECK(f == NULL);
    if (f) fclose(f);
    mb_alloc_free(a);
}

int main(void) {
    const char *dir = mbt_tmpdir();
    char model[512], text[512];
    snprintf(model, sizeof model, "%s/plan-tiny.gguf", dir);
    snprintf(text, sizeof text, "%s/plan.txt", dir);
    mbt_tiny_model cfg = {.n_embd = 256,
                          .n_layer = 2,
                          .n_head = 4,
                          .n_head_kv = 2,
                          .n_ff = 256,
                          .n_ctx = 64,
                          .seed = 9};
    CHECK_OK(mbt_write_tiny_model(model, &cfg));
    CHECK(scale_tensor(model, "blk.0.ffn_down.weight", 6.0f));
    if (mbt_write_calib_text(text) != 0) {
        CHECK(!"cannot write the calibration text");
        return mbt_finish();
    }
    test_overrides(model, dir);
    test_solver();
    test_target_bpw(model, text, dir);
    return mbt_finish();
}
