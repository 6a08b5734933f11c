/* The router without a model or a network: confidence features, the
 * routing rules, the daily budget, the audit log, and escalation failing
 * safe (budget spent, oracle down) to a local answer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/audit.h"
#include "agent/budget.h"
#include "agent/escalate.h"
#include "agent/oracle.h"
#include "agent/router.h"
#include "common/tool_error.h"
#include "test_util.h"

static void test_logits_stats(void) {
    enum { V = 512 };
    static float logits[V];
    double lp, h;
    mb_logits_stats(logits, V, 7, &lp, &h); /* uniform */
    CHECK_NEAR(lp, -log((double)V), 1e-9);
    CHECK_NEAR(h, log((double)V), 1e-9);
    logits[3] = 100; /* nearly one-hot */
    mb_logits_stats(logits, V, 3, &lp, &h);
    CHECK_NEAR(lp, 0, 1e-6);
    CHECK(h < 1e-6);
    mb_logits_stats(logits, V, 4, &lp, &h);
    CHECK(lp < -99);
    float two[2] = {0, 0}; /* a fair coin: H = ln 2 */
    mb_logits_stats(two, 2, 0, &lp, &h);
    CHECK_NEAR(h, log(2.0), 1e-9);
}

static void test_confidence(void) {
    mb_confidence_acc a;
    mb_confidence_init(&a, 0.1f);
    mb_confidence c = mb_confidence_get(&a);
    CHECK_EQ_INT(c.n_tokens, 0);
    mb_confidence_add_lp(&a, log(0.5), 1.0);
    mb_confidence_add_lp(&a, log(0.05), 3.0); /* below p 0.1 */
    mb_confidence_add_lp(&a, -INFINITY, 2.0); /* clamped, and low */
    c = mb_confidence_get(&a);
    CHECK_EQ_INT(c.n_tokens, 3);
    CHECK_NEAR(c.mean_entropy, 2.0, 1e-9);
    CHECK_NEAR(c.mean_logprob, (log(0.5) + log(0.05) - 100) / 3, 1e-9);
    CHECK_NEAR(c.low_share, 2.0 / 3, 1e-9);
    float logits[4] = {2, 1, 0, -1};
    mb_confidence_init(&a, 0.5f);
    mb_confidence_add(&a, logits, 4, 0);
    c = mb_confidence_get(&a);
    CHECK(c.mean_logprob < 0 && c.mean_logprob > log(0.5)); /* the top token, p > 0.5 */
    CHECK_NEAR(c.low_share, 0, 0);
}

static void test_rules(void) {
    char why[256];
    mb_route_input in = {.has_oracle = 1, .n_prompt = 10, .n_ctx = 100};
    CHECK_EQ_INT(mb_route_before(&in, why, sizeof why), MB_ROUTE_DRAFT);
    in.hard = 1;
    CHECK_EQ_INT(mb_route_before(&in, why, sizeof why), MB_ROUTE_ORACLE);
    CHECK(strstr(why, "hard") != NULL);
    in.hard = 0;
    in.n_prompt = 100;
    CHECK_EQ_INT(mb_route_before(&in, why, sizeof why), MB_ROUTE_ORACLE);
    CHECK(strstr(why, "context") != NULL);
    in.hard = 1;
    in.is_private = 1; /* private wins over every reason to escalate */
    CHECK_EQ_INT(mb_route_before(&in, why, sizeof why), MB_ROUTE_GUARDIAN);
    CHECK(!strcmp(why, "private"));
    in.is_private = 0;
    in.has_oracle = 0;
    CHECK_EQ_INT(mb_route_before(&in, why, sizeof why), MB_ROUTE_GUARDIAN);

    mb_router_thresholds t = {
        .low_p = 0.1f, .min_mean_logprob = -2, .max_mean_entropy = 1.5, .max_low_share = 0.5};
    mb_confidence c = {.n_tokens = 8, .mean_logprob = -1, .mean_entropy = 1, .low_share = 0.2};
    CHECK_EQ_INT(mb_route_after(&c, &t, why, sizeof why), 0);
    c.mean_entropy = 1.6;
    CHECK_EQ_INT(mb_route_after(&c, &t, why, sizeof why), 1);
    CHECK(strstr(why, "entropy") != NULL);
    c.mean_entropy = 1;
    c.mean_logprob = -2.5;
    CHECK_EQ_INT(mb_route_after(&c, &t, why, sizeof why), 1);
    CHECK(strstr(why, "log-prob") != NULL);
    c.mean_logprob = -1;
    c.low_share = 0.6;
    CHECK_EQ_INT(mb_route_after(&c, &t, why, sizeof why), 1);
    c.low_share = 0.2;
    c.n_tokens = 0; /* nothing drafted: nothing to trust */
    CHECK_EQ_INT(mb_route_after(&c, &t, why, sizeof why), 1);
    mb_router_thresholds d = mb_router_default_thresholds();
    CHECK(d.low_p > 0 && d.low_p < 1 && d.max_mean_entropy > 0);
}

static void test_budget(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/budget.json", mbt_tmpdir());
    remove(path);
    time_t day0 = 20000 * 86400L + 3600, day1 = day0 + 86400;
    mb_budget *b = NULL;
    CHECK_OK(mb_budget_new(100, path, &b));
    CHECK(mb_budget_allows(b, 100, day0));
    CHECK(!mb_budget_allows(b, 101, day0));
    CHECK_OK(mb_budget_spend(b, 80, day0));
    CHECK(mb_budget_allows(b, 20, day0));
    CHECK(!mb_budget_allows(b, 21, day0));
    mb_budget_free(b);
    CHECK_OK(mb_budget_new(100, path, &b)); /* the count survives a restart */
    CHECK_EQ_INT((int)mb_budget_used(b, day0), 80);
    CHECK(!mb_budget_allows(b, 21, day0));
    CHECK(mb_budget_allows(b, 100, day1)); /* a new day starts at 0 */
    CHECK_EQ_INT((int)mb_budget_used(b, day1), 0);
    mb_budget_free(b);
    FILE *f = fopen(path, "wb");
    if (f) fputs("{\"day\": \"x\"}", f), fclose(f);
    CHECK(mb_budget_new(100, path, &b) == MB_ERR_FORMAT);
    CHECK(strstr(tool_last_error(), path) != NULL);
    CHECK_OK(mb_budget_new(0, NULL, &b)); /* unlimited */
    CHECK(mb_budget_allows(b, 1L << 40, day0));
    mb_budget_free(b);
}

/* Escalation that fails safe, with no network reachable: the budget is
 * spent, or the oracle's port is closed. Both are audited, neither keeps a
 * key. */
static void test_escalate_fails_safe(void) {
    char log_path[512];
    snprintf(log_path, sizeof log_path, "%s/audit.jsonl", mbt_tmpdir());
    remove(log_path);
    const char *key = "sk-test-SECRET-123";
    mb_oracle_config oc = {.base_url = "http://127.0.0.1:1/v1",
                           .api_key = key,
                           .connect_timeout_s = 2,
                           .timeout_s = 5,
                           .max_retries = 1};
    mb_agent_oracle ao = {.url = oc.base_url, .model = "m"};
    CHECK_OK(mb_oracle_new(&oc, &ao.oracle));
    CHECK_OK(mb_audit_open(log_path, &ao.audit));
    CHECK_OK(mb_budget_new(10, NULL, &ao.budget));
    mb_oracle_msg m = {"user", "Mail bob.smith@example.com about the plan."};
    mb_escalation e;
    char reason[512];
    CHECK(mb_agent_escalate(&ao, &m, 1, 64, 0, "marked hard", NULL, NULL, &e, reason,
                            sizeof reason) != MB_OK);
    CHECK_MSG(strstr(reason, "budget exhausted") != NULL, "reason: %s", reason);
    mb_budget_free(ao.budget);
    ao.budget = NULL;
    CHECK(mb_agent_escalate(&ao, &m, 1, 64, 0, "marked hard", NULL, NULL, &e, reason,
                            sizeof reason) == MB_ERR_IO);
    CHECK_MSG(strstr(reason, "unreachable") != NULL, "reason: %s", reason);
    CHECK_MSG(strstr(tool_last_error(), "127.0.0.1:1") != NULL, "error: %s", tool_last_error());
    CHECK(strstr(tool_last_error(), key) == NULL);
    CHECK(e.content == NULL);
    mb_agent_audit_local(&ao, "private", 0.01);
    mb_audit_close(ao.audit);
    mb_oracle_free(ao.oracle);
    size_t len = 0;
    char *log = mbt_read_file(log_path, &len);
    CHECK(log != NULL);
    if (!log) return;
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += log[i] == '\n';
    CHECK_EQ_INT(lines, 3);
    CHECK(strstr(log, key) == NULL);
    CHECK(strstr(log, "bob.smith@example.com") == NULL);
    CHECK(strstr(log, "[EMAIL_1]") != NULL); /* what was attempted, redacted */
    CHECK(strstr(log, "\"answered_by\":\"oracle\"") == NULL);
    free(log);
}

static void test_oracle_config(void) {
    mb_oracle *o = NULL;
    mb_oracle_config c = {.base_url = "ftp://example.com/v1"};
    CHECK(mb_oracle_new(&c, &o) == MB_ERR_INVALID_ARG && o == NULL);
    c.base_url = "http://127.0.0.1:9/v1";
    c.api_key = "a\nb";
    CHECK(mb_oracle_new(&c, &o) == MB_ERR_INVALID_ARG);
    CHECK(strstr(tool_last_error(), "a\nb") == NULL);
}

int main(void) {
    test_logits_stats();
    test_confidence();
    test_rules();
    test_budget();
    test_escalate_fails_safe();
    test_oracle_config();
    return mbt_finish();
}
