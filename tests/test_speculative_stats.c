/* Speculative sampling keeps the model's distribution: the tokens of many
 * seeded generations with speculation are counted per position and
 * compared with as many plain generations (other seeds: independent
 * samples) by a two-sample chi-square test at p < 1e-4, positions 2..N_GEN
 * and the pair of positions 2 and 3 jointly (the first token is sampled
 * from the prefill's logits the same way in both). Drafters: on tiny
 * random models (always there; low temperature, else their distributions
 * are flat), a draft model of other weights (q far from p) and the model
 * itself (q = p up to the penalties); on stories260K from ../shared (a part
 * skipped when absent), prompt lookup on a story told twice (one-hot q).
 * Each with pure temperature and with the top-k/top-p/min-p chain plus a
 * repeat penalty, which must see the accepted tokens in order. The seeds
 * are fixed: the outcome is deterministic. Checked by hand when written:
 * accepting every draft fails 32 checks (every drafter but the model
 * itself), drawing a rejected position from p instead of max(0, p - q)
 * fails 13 (the lookup ones). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matchbox.h"
#include "spec_util.h"
#include "tensor/types.h"
#include "test_util.h"

/* Sanitizers and an emulator make each run 10-50 times slower: fewer
 * runs there (the test keeps its level, with less power). */
#if defined(MB_SANITIZE_BUILD) || defined(MB_EMULATED_BUILD)
enum { N_RUNS = 400 };
#else
enum { N_RUNS = 2000 };
#endif
enum { N_GEN = 8, N_VOCAB_MAX = 512 };

/* The chi-square quantile of DF degrees of freedom at upper tail z
 * (Wilson-Hilferty). */
static double chi2_crit(int df, double z) {
    double a = 2.0 / (9.0 * df);
    double c = 1 - a + z * sqrt(a);
    return df * c * c * c;
}

/* Two samples of equal size over categories (counts A, B of N cells):
 * cells with fewer than 10 together are pooled. Returns statistic / crit. */
static double chi2_ratio(const int *a, const int *b, int n, int *df_out) {
    double x2 = 0;
    int df = -1, pa = 0, pb = 0;
    for (int i = 0; i < n; i++) {
        if (a[i] + b[i] < 10) {
            pa += a[i], pb += b[i];
            continue;
        }
        x2 += (double)(a[i] - b[i]) * (a[i] - b[i]) / (a[i] + b[i]);
        df++;
    }
    if (pa + pb > 0) {
        x2 += (double)(pa - pb) * (pa - pb) / (pa + pb);
        df++;
    }
    *df_out = df;
    if (df < 1) return 0;
    return x2 / chi2_crit(df, 3.719); /* 1e-4 upper tail */
}

/* Per position (and the pair 2, 3) counts of N_RUNS generations. */
static int n_vocab_; /* the model's under test */

typedef struct {
    int pos[N_GEN][N_VOCAB_MAX];
    int *pair; /* [N_VOCAB_MAX x N_VOCAB_MAX] */
    long drafted, accepted;
} counts;

static void sample(const mb_model *m, mb_session *s, const mb_token *prompt, size_t n_prompt,
                   const mb_sampler_params *base, const mb_speculative_params *spec, counts *c) {
    static spec_run r;
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = N_GEN;
    memset(c->pos, 0, sizeof c->pos);
    memset(c->pair, 0, sizeof(int) * N_VOCAB_MAX * N_VOCAB_MAX);
    c->drafted = c->accepted = 0;
    for (int run = 0; run < N_RUNS; run++) {
        mb_sampler_params sp = *base;
        /* Other seeds for the speculative runs: the samples must be
         * independent (a run without drafts would repeat plain's draws). */
        sp.seed = (spec ? 1000000 : 1000) + (uint64_t)run;
        r.stop_at = 0;
        spec_generate(m, s, prompt, n_prompt, &sp, &gp, spec, &r);
        if (r.status != MB_OK) {
            CHECK_OK(r.status);
            return;
        }
        for (int i = 0; i < r.n && i < N_GEN; i++)
            c->pos[i][r.ids[i]]++;
        if (r.n >= 3) c->pair[r.ids[1] * n_vocab_ + r.ids[2]]++;
        c->drafted += r.st.n_drafted;
        c->accepted += r.st.n_accepted;
    }
}

static void compare(const char *what, const counts *plain, const counts *spec) {
    for (int i = 1; i < N_GEN; i++) {
        int df;
        double ratio = chi2_ratio(plain->pos[i], spec->pos[i], n_vocab_, &df);
        printf("%s, token %d: chi-square / critical %.3f (df %d)\n", what, i + 1, ratio, df);
        CHECK_MSG(ratio < 1,
                  "%s: token %d's frequencies differ from plain sampling (%.2f x the "
                  "critical value, %d df)",
                  what, i + 1, ratio, df);
        CHECK_MSG(df >= 5 || N_RUNS < 2000,
                  "%s: token %d has too few categories (%d) for the test to mean much", what, i + 1,
                  df);
    }
    int df;
    double ratio = chi2_ratio(plain->pair, spec->pair, n_vocab_ * n_vocab_, &df);
    printf("%s, tokens 2-3: chi-square / critical %.3f (df %d)\n", what, ratio, df);
    CHECK_MSG(ratio < 1, "%s: the pair of tokens 2, 3 differs from plain sampling (%.2f)", what,
              ratio);
    printf("%s: %ld drafted, %ld accepted\n", what, spec->drafted, spec->accepted);
    /* Both paths of the rejection scheme ran. */
    CHECK_MSG(spec->accepted > N_RUNS / 20, "%s: %ld accepted", what, spec->accepted);
    CHECK_MSG(strstr(what, "itself") || spec->drafted - spec->accepted > N_RUNS / 20,
              "%s: %ld rejected", what, spec->drafted - spec->accepted);
}

/* Plain against each of SPECS (N of them), under each of CHAINS. */
static void run_all(const char *model, const mb_model *m, mb_session *s, const mb_token *prompt,
                    size_t n_prompt, const mb_sampler_params *chains,
                    const char *const *chain_names, int n_chains,
                    const mb_speculative_params *specs, const char *const *names, int n) {
    static counts plain, spec;
    if (!plain.pair) plain.pair = calloc(N_VOCAB_MAX * N_VOCAB_MAX, sizeof(int));
    if (!spec.pair) spec.pair = calloc(N_VOCAB_MAX * N_VOCAB_MAX, sizeof(int));
    if (!plain.pair || !spec.pair) return;
    n_vocab_ = mb_model_n_vocab(m);
    for (int c = 0; c < n_chains; c++) {
        sample(m, s, prompt, n_prompt, &chains[c], NULL, &plain);
        for (int k = 0; k < n; k++) {
            char what[192];
            snprintf(what, sizeof what, "%s, %s, %s", model, names[k], chain_names[c]);
            sample(m, s, prompt, n_prompt, &chains[c], &specs[k], &spec);
            compare(what, &plain, &spec);
        }
    }
}

/* Tiny random models (always there): their distributions are flat unless
 * the temperature is low; a draft model of other weights and the model
 * itself as its draft. */
static void test_draft_models(void) {
    mb_model *m = spec_tiny_model("stats", 5, 0, 512), *m2 = spec_tiny_model("stats2", 6, 0, 512);
    if (!m || !m2) return;
    mb_session *s = mbt_session(m, 256), *self = mbt_session(m, 256), *alt = mbt_session(m2, 256);
    mb_token prompt[16];
    for (int i = 0; i < 16; i++)
        prompt[i] = 40 + i % 5;
    mb_sampler_params chains[2] = {mb_sampler_default_params(), mb_sampler_default_params()};
    /* Pure temperature: every token possible. */
    chains[0].temperature = 0.15f;
    chains[0].top_k = 0;
    chains[0].top_p = 1.0f;
    chains[0].min_p = 0;
    /* The default chain, and a penalty that must see the accepted tokens. */
    chains[1].temperature = 0.15f;
    chains[1].repeat_penalty = 1.5f;
    const char *chain_names[2] = {"temperature", "default chain + penalty"};
    mb_speculative_params specs[2] = {mb_speculative_default_params(),
                                      mb_speculative_default_params()};
    specs[0].draft = alt;
    specs[1].draft = self;
    const char *names[2] = {"another model as draft", "itself as draft"};
    if (s && self && alt)
        run_all("tiny", m, s, prompt, 16, chains, chain_names, 2, specs, names, 2);
    mb_session_free(s);
    mb_session_free(self);
    mb_session_free(alt);
    mb_model_free(m);
    mb_model_free(m2);
}

/* Prompt lookup needs text that repeats and a model whose distributions
 * are peaked: stories260K on a story told twice. */
static void test_lookup(void) {
    const char *dir = mbt_shared_dir();
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", dir ? dir : ".");
    mb_model *m = NULL;
    mb_model_params mp = mb_model_default_params();
    if (!dir || mb_model_load(path, &mp, &m) != MB_OK) {
        printf("SKIP part: %s is absent (prompt lookup's sampling)\n", path);
        return;
    }
    const char *text = "Once upon a time, there was a little girl named Lily. She loved to play "
                       "with her ball in the park. One day, she saw a big dog. Once upon a time, "
                       "there was a little girl named Lily. She loved to";
    mb_token prompt[128];
    size_t n_prompt = 0;
    CHECK_OK(mb_tokenize(m, text, strlen(text), 1, 0, prompt, 128, &n_prompt));
    mb_session *s = mbt_session(m, 256);
    mb_sampler_params chains[2] = {mb_sampler_default_params(), mb_sampler_default_params()};
    chains[0].temperature = 1.0f;
    chains[0].top_k = 0;
    chains[0].top_p = 1.0f;
    chains[0].min_p = 0;
    chains[1].repeat_penalty = 1.1f;
    const char *chain_names[2] = {"temperature", "default chain + penalty"};
    mb_speculative_params spec = mb_speculative_default_params();
    spec.lookup_n = 3;
    const char *names[1] = {"lookup"};
    if (s) run_all("stories260K", m, s, prompt, n_prompt, chains, chain_names, 2, &spec, names, 1);
    mb_session_free(s);
    mb_model_free(m);
}

int main(void) {
    test_draft_models();
    test_lookup();
    return mbt_finish();
}
