/* The learned router without a model (tools/agent/router_lr.c): AUC on
 * known orders, logistic regression that separates what is separable and
 * weighs the informative feature, the cross-validated threshold keeping its
 * recall target on its own out-of-fold predictions, the router file's round
 * trip and its refusals, and the decision's reason. */
#include "agent/router_lr.h"
#include "common/tool_error.h"
#include "test_util.h"

static void test_auc(void) {
    double x[] = {1, 2, 3, 4};
    int y[] = {0, 0, 1, 1}, yr[] = {1, 1, 0, 0};
    CHECK(fabs(mb_auc(x, y, 4) - 1) < 1e-12);
    CHECK(fabs(mb_auc(x, yr, 4)) < 1e-12);
    double tie[] = {5, 5, 5, 5};
    CHECK(fabs(mb_auc(tie, y, 4) - 0.5) < 1e-12);
    double mixed[] = {1, 3, 2, 4}; /* positives 2 and 4 against negatives 1 and 3: 3 of 4 */
    int ym[] = {0, 0, 1, 1};
    CHECK(fabs(mb_auc(mixed, ym, 4) - 0.75) < 1e-12);
}

/* N rows: feature 0 carries the label (with noise), the others are noise. */
static void make_data(double *x, int *y, int n, uint64_t seed) {
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        y[i] = i % 2;
        for (int f = 0; f < MB_N_FEAT; f++)
            x[i * MB_N_FEAT + f] = 3 * (double)mbt_rand_float(&s);
        x[i * MB_N_FEAT + 0] += y[i] ? 4 : -4;
        x[i * MB_N_FEAT + 3] = 7; /* a constant feature */
    }
}

static void test_fit_and_cv(void) {
    enum { N = 200 };
    static double x[N * MB_N_FEAT], oof[N];
    static int y[N];
    make_data(x, y, N, 42);
    mb_router_lr r = {.n_draft = 32, .low_p = 0.1f};
    mb_router_lr_fit(x, y, N, 0.1, &r);
    double p[N];
    for (int i = 0; i < N; i++)
        p[i] = mb_router_lr_prob(&r, x + i * MB_N_FEAT);
    CHECK(mb_auc(p, y, N) > 0.95);
    CHECK(r.w[0] > 0);
    for (int f = 1; f < MB_N_FEAT; f++)
        CHECK_MSG(fabs(r.w[f]) < fabs(r.w[0]) / 2, "noise feature %d weighs %g", f, r.w[f]);
    CHECK(r.w[3] == 0 && r.scale[3] == 1); /* the constant feature */
    /* A larger penalty shrinks the weights. */
    mb_router_lr big = r;
    mb_router_lr_fit(x, y, N, 100, &big);
    CHECK(fabs(big.w[0]) < fabs(r.w[0]));
    static const double grid[] = {0.01, 1, 100};
    mb_router_lr cv = {.n_draft = 32, .low_p = 0.1f};
    mb_router_lr_cv(x, y, N, 5, grid, 3, 0.9, &cv, oof);
    int pos = 0, tp = 0;
    for (int i = 0; i < N; i++)
        pos += y[i], tp += y[i] && oof[i] >= cv.threshold;
    CHECK_MSG((double)tp / pos >= 0.9, "out-of-fold recall %d of %d", tp, pos);
    CHECK(cv.threshold > 0 && cv.threshold < 1);
    CHECK(cv.target_recall == 0.9);
}

static void write(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_file(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/router.json", mbt_tmpdir());
    mb_router_lr r = {.n_draft = 16, .low_p = 0.2f, .bias = -0.5, .threshold = 0.7, .l2 = 1};
    for (int f = 0; f < MB_N_FEAT; f++)
        r.mean[f] = f, r.scale[f] = 1 + f, r.w[f] = 0.25 * f - 1;
    CHECK(mb_router_lr_save(path, &r, "m.gguf", "a note") == MB_OK);
    mb_router_lr back;
    CHECK(mb_router_lr_load(path, &back) == MB_OK);
    double x[MB_N_FEAT] = {1, -2, 3, 0.5, 9, 0, 2};
    CHECK(fabs(mb_router_lr_prob(&r, x) - mb_router_lr_prob(&back, x)) < 1e-12);
    CHECK(back.n_draft == 16 && fabs(back.low_p - 0.2f) < 1e-6 && back.threshold == 0.7);
    /* Refusals name the problem. */
    write(path, "{\"format\":\"other\"}");
    CHECK(mb_router_lr_load(path, &back) == MB_ERR_FORMAT);
    CHECK(strstr(tool_last_error(), "format") != NULL);
    write(path, "not json");
    CHECK(mb_router_lr_load(path, &back) == MB_ERR_FORMAT);
    const char *s = "{\"format\":\"matchbox-router-1\",\"n_draft\":32,\"low_p\":0.1,"
                    "\"mean\":{\"prompt_nll\":1},\"scale\":{},\"weights\":{},\"bias\":0,"
                    "\"threshold\":0.5}";
    CHECK(mb_router_lr_parse(s, strlen(s), "x", &back) == MB_ERR_FORMAT);
    CHECK(strstr(tool_last_error(), "mean") != NULL);
    snprintf(path, sizeof path, "%s/absent.json", mbt_tmpdir());
    CHECK(mb_router_lr_load(path, &back) == MB_ERR_IO);
}

static void test_decide(void) {
    mb_router_lr r = {.n_draft = 32, .low_p = 0.1f, .threshold = 0.5};
    for (int f = 0; f < MB_N_FEAT; f++)
        r.scale[f] = 1;
    r.w[MB_FEAT_PROMPT_NLL] = 2;
    mb_agent_features f = {0};
    f.conf.n_tokens = 4;
    f.x[MB_FEAT_PROMPT_NLL] = 3; /* p = sigmoid(6) */
    char why[256];
    mb_router_thresholds t = mb_router_default_thresholds();
    CHECK(mb_router_decide(&f, &r, &t, why, sizeof why) == 1);
    CHECK(strstr(why, "router p(escalate)") != NULL);
    f.x[MB_FEAT_PROMPT_NLL] = -3;
    CHECK(mb_router_decide(&f, &r, &t, why, sizeof why) == 0);
    CHECK(!strncmp(why, "confident", 9));
    /* Without a router the draft's thresholds decide. */
    f.conf.mean_logprob = -5;
    CHECK(mb_router_decide(&f, NULL, &t, why, sizeof why) == 1);
    CHECK(strstr(why, "mean log-prob") != NULL);
}

int main(void) {
    test_auc();
    test_fit_and_cv();
    test_file();
    test_decide();
    return mbt_finish();
}
