/* Sampling: each truncation and penalty, checked on hand-made logits. */
#include "test_util.h"

static mb_sampler *make(mb_sampler_params p, int n_vocab) {
    mb_sampler *s = NULL;
    CHECK_OK(mb_sampler_new(&p, n_vocab, &s));
    return s;
}

static mb_sampler_params plain(void) {
    mb_sampler_params p = mb_sampler_default_params();
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0;
    return p;
}

/* Greedy picks the argmax, and the lower id on an exact tie. */
static void test_greedy(void) {
    mb_sampler_params p = plain();
    p.temperature = 0;
    mb_sampler *s = make(p, 5);
    float logits[5] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
    CHECK_EQ_INT(mb_sampler_sample(s, logits), 1);
    mb_sampler_free(s);
}

/* top-k 2 only ever returns the two best tokens. */
static void test_top_k(void) {
    mb_sampler_params p = plain();
    p.top_k = 2;
    mb_sampler *s = make(p, 4);
    float logits[4] = {1.0f, 1.1f, 0.9f, 1.05f};
    int seen[4] = {0};
    for (int i = 0; i < 400; i++)
        seen[mb_sampler_sample(s, logits)]++;
    CHECK(seen[0] == 0 && seen[2] == 0);
    CHECK(seen[1] > 0 && seen[3] > 0);
    mb_sampler_free(s);
}

/* top-p 0.5 on probabilities (0.6, 0.3, 0.1) keeps only the first. */
static void test_top_p(void) {
    mb_sampler_params p = plain();
    p.top_p = 0.5f;
    mb_sampler *s = make(p, 3);
    float logits[3] = {logf(0.6f), logf(0.3f), logf(0.1f)};
    for (int i = 0; i < 200; i++)
        CHECK_EQ_INT(mb_sampler_sample(s, logits), 0);
    mb_sampler_free(s);
}

/* min-p 0.4: tokens under 0.4 x the top probability are never drawn. */
static void test_min_p(void) {
    mb_sampler_params p = plain();
    p.min_p = 0.4f;
    mb_sampler *s = make(p, 3);
    float logits[3] = {logf(0.5f), logf(0.3f), logf(0.15f)}; /* 0.15 < 0.2 */
    int seen[3] = {0};
    for (int i = 0; i < 400; i++)
        seen[mb_sampler_sample(s, logits)]++;
    CHECK(seen[2] == 0 && seen[1] > 0);
    mb_sampler_free(s);
}

/* Draws follow the softmax: 0.75 / 0.25 within a loose 4-sigma band. */
static void test_distribution(void) {
    mb_sampler_params p = plain();
    p.seed = 42;
    mb_sampler *s = make(p, 2);
    float logits[2] = {logf(0.75f), logf(0.25f)};
    int first = 0, n = 4000;
    for (int i = 0; i < n; i++)
        first += mb_sampler_sample(s, logits) == 0;
    double frac = (double)first / n, sigma = sqrt(0.75 * 0.25 / n);
    CHECK_MSG(fabs(frac - 0.75) < 4 * sigma, "fraction %.3f", frac);
    mb_sampler_free(s);
}

/* Low temperature sharpens: at T = 0.1 the 0.6/0.4 pair becomes ~0.98/0.02. */
static void test_temperature(void) {
    mb_sampler_params p = plain();
    p.temperature = 0.1f;
    mb_sampler *s = make(p, 2);
    float logits[2] = {logf(0.6f), logf(0.4f)};
    int first = 0;
    for (int i = 0; i < 1000; i++)
        first += mb_sampler_sample(s, logits) == 0;
    CHECK_MSG(first > 950, "first chosen %d of 1000", first);
    mb_sampler_free(s);
}

/* The repetition penalty turns a greedy choice away from a seen token:
 * positive logits are divided, negative ones multiplied. */
static void test_repeat_penalty(void) {
    mb_sampler_params p = plain();
    p.temperature = 0;
    p.repeat_penalty = 1.5f;
    mb_sampler *s = make(p, 3);
    float logits[3] = {3.0f, 2.5f, -1.0f};
    CHECK_EQ_INT(mb_sampler_sample(s, logits), 0);
    mb_sampler_accept(s, 0); /* 3.0 / 1.5 = 2.0 < 2.5 */
    CHECK_EQ_INT(mb_sampler_sample(s, logits), 1);
    mb_sampler_free(s);
}

/* Presence and frequency penalties subtract; the window forgets old tokens. */
static void test_presence_frequency_window(void) {
    mb_sampler_params p = plain();
    p.temperature = 0;
    p.frequency_penalty = 0.4f;
    p.repeat_last_n = 2;
    mb_sampler *s = make(p, 3);
    float logits[3] = {1.0f, 0.5f, 0.0f};
    mb_sampler_accept(s, 0);
    CHECK_EQ_INT(mb_sampler_sample(s, logits), 0); /* 1.0 - 0.4 = 0.6 > 0.5 */
    mb_sampler_accept(s, 0);
    CHECK_EQ_INT(mb_sampler_sample(s, logits), 1); /* 1.0 - 0.8 = 0.2 < 0.5 */
    mb_sampler_accept(s, 2);
    mb_sampler_accept(s, 2); /* token 0 left the window of 2 */
    CHECK_EQ_INT(mb_sampler_sample(s, logits), 0);
    mb_sampler_free(s);
    p = plain();
    p.temperature = 0;
    p.presence_penalty = 0.6f;
    s = make(p, 3);
    mb_sampler_accept(s, 0);
    CHECK_EQ_INT(mb_sampler_sample(s, logits), 1); /* 0.4 < 0.5 */
    mb_sampler_free(s);
}

static void test_bad_params(void) {
    mb_sampler_params p = plain();
    p.repeat_penalty = 0;
    mb_sampler *s = NULL;
    CHECK(mb_sampler_new(&p, 10, &s) == MB_ERR_INVALID_ARG && s == NULL);
    CHECK(strstr(mb_last_error(), "repeat penalty") != NULL);
}

int main(void) {
    test_greedy();
    test_top_k();
    test_top_p();
    test_min_p();
    test_distribution();
    test_temperature();
    test_repeat_penalty();
    test_presence_frequency_window();
    test_bad_params();
    return mbt_finish();
}
