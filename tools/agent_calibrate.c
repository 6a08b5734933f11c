/* matchbox agent MODEL --calibrate FILE: run the guardian on a labeled set
 * (one "label TAB prompt" a line; labels keep, escalate, private), print
 * each draft's confidence features, pick the threshold of each feature that
 * maximizes the F1 score of escalation on the keep/escalate lines, and
 * report how the router does with it: escalation precision and recall, the
 * oracle traffic saved against escalating everything, and how many private
 * prompts would have left the device (docs/AGENT.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent/redact.h"
#include "cli.h"
#include "common/tool_error.h"

enum { LABEL_KEEP, LABEL_ESCALATE, LABEL_PRIVATE };

typedef struct {
    int label;
    char *prompt;
    long n_prompt;
    int pii;           /* the redactor finds personal data in it */
    double self_check; /* p(yes) of the self-check question */
    mb_confidence c;
} sample;

typedef struct {
    const char *name, *flag;
    int sign; /* escalate when sign * value > sign * threshold */
} feature;

static const feature FEATURES[] = {
    {"mean entropy", "--max-entropy", 1},
    {"mean log-prob", "--min-logprob", -1},
    {"low-p share", "--max-low-share", 1},
    {"self-check", "--self-check", -1}, /* matchbox agent only */
};

static double value(const sample *s, int f) {
    return f == 0   ? s->c.mean_entropy
           : f == 1 ? s->c.mean_logprob
           : f == 2 ? s->c.low_share
                    : s->self_check;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    int tp, fp, fn, tn;
} counts;

static double f1(counts k) {
    return k.tp ? 2.0 * k.tp / (2.0 * k.tp + k.fp + k.fn) : 0;
}

/* Route every sample as the router would. MARK_PRIVATE 1: the private ones
 * are marked private; 2: those with personal data are (--private-if-pii);
 * 0: none is. */
static counts route_all(const sample *s, int n, const mb_router_thresholds *t, long n_ctx,
                        int mark_private, int *leaks, long *sent_tokens, int *sent) {
    counts k = {0};
    *leaks = 0;
    *sent_tokens = 0;
    *sent = 0;
    char why[256];
    for (int i = 0; i < n; i++) {
        mb_route_input in = {.has_oracle = 1,
                             .is_private = mark_private == 2
                                               ? s[i].pii
                                               : mark_private && s[i].label == LABEL_PRIVATE,
                             .n_prompt = s[i].n_prompt,
                             .n_ctx = n_ctx};
        mb_route r = mb_route_before(&in, why, sizeof why);
        int esc = r == MB_ROUTE_ORACLE ||
                  (r == MB_ROUTE_DRAFT && mb_route_after(&s[i].c, t, why, sizeof why));
        if (esc) {
            (*sent)++;
            *sent_tokens += s[i].n_prompt;
        }
        if (s[i].label == LABEL_PRIVATE) {
            *leaks += esc;
            continue;
        }
        int pos = s[i].label == LABEL_ESCALATE;
        k.tp += esc && pos;
        k.fp += esc && !pos;
        k.fn += !esc && pos;
        k.tn += !esc && !pos;
    }
    return k;
}

static void report(const char *title, const sample *s, int n, const mb_router_thresholds *t,
                   long n_ctx) {
    int leaks, sent, base_n = 0, unmarked_leaks, unmarked_sent;
    long sent_tokens, base_tokens = 0, unmarked_tokens;
    counts k = route_all(s, n, t, n_ctx, 1, &leaks, &sent_tokens, &sent);
    route_all(s, n, t, n_ctx, 0, &unmarked_leaks, &unmarked_tokens, &unmarked_sent);
    int pii_leaks, pii_sent;
    long pii_tokens;
    route_all(s, n, t, n_ctx, 2, &pii_leaks, &pii_tokens, &pii_sent);
    for (int i = 0; i < n; i++)
        if (s[i].label != LABEL_PRIVATE) base_n++, base_tokens += s[i].n_prompt;
    double prec = k.tp + k.fp ? (double)k.tp / (k.tp + k.fp) : 0;
    double rec = k.tp + k.fn ? (double)k.tp / (k.tp + k.fn) : 0;
    char e[32] = "off", l[32] = "off", w[32] = "off";
    if (t->max_mean_entropy < 1e29) snprintf(e, sizeof e, "%.3f", t->max_mean_entropy);
    if (t->min_mean_logprob > -1e29) snprintf(l, sizeof l, "%.3f", t->min_mean_logprob);
    if (t->max_low_share < 1) snprintf(w, sizeof w, "%.3f at p %.2f", t->max_low_share, t->low_p);
    printf("%s (max mean entropy %s, min mean log-prob %s, max low-p share %s):\n", title, e, l, w);
    printf("  escalation: precision %.3f, recall %.3f, F1 %.3f (tp %d, fp %d, fn %d, tn %d)\n",
           prec, rec, f1(k), k.tp, k.fp, k.fn, k.tn);
    printf("  oracle traffic: %d of %d requests, %ld of %ld prompt tokens; saved %.1f%% of "
           "requests and %.1f%% of tokens against always escalating\n",
           sent, base_n, sent_tokens, base_tokens, base_n ? 100.0 * (base_n - sent) / base_n : 0,
           base_tokens ? 100.0 * (double)(base_tokens - sent_tokens) / (double)base_tokens : 0);
    printf("  private prompts that left the device: %d (marked private); unmarked %d, sent "
           "redacted; with --private-if-pii instead of marks %d\n",
           leaks, unmarked_leaks, pii_leaks);
}

static int load(const char *path, sample **out, int *n_out) {
    size_t len = 0;
    char *text = cli_read_all(path, &len);
    if (!text) return cli_fail("%s", tool_last_error()), 0;
    int n = 0, cap = 0;
    sample *s = NULL;
    int line_no = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        line_no++;
        line[strcspn(line, "\r")] = '\0';
        if (!*line || *line == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            cli_fail("%s: line %d: no TAB between the label and the prompt", path, line_no);
            goto fail;
        }
        *tab = '\0';
        int label = !strcmp(line, "keep")       ? LABEL_KEEP
                    : !strcmp(line, "escalate") ? LABEL_ESCALATE
                    : !strcmp(line, "private")  ? LABEL_PRIVATE
                                                : -1;
        if (label < 0) {
            cli_fail("%s: line %d: the label '%s' is not keep, escalate or private", path, line_no,
                     line);
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            sample *t = realloc(s, (size_t)cap * sizeof *t);
            if (!t) goto fail;
            s = t;
        }
        s[n] = (sample){.label = label, .prompt = strdup(tab + 1)};
        if (!s[n++].prompt) goto fail;
    }
    free(text);
    *out = s;
    *n_out = n;
    return 1;
fail:
    for (int i = 0; i < n; i++)
        free(s[i].prompt);
    free(s);
    free(text);
    return 0;
}

int agent_calibrate(agent_guardian *g, const char *tsv, const mb_router_thresholds *current) {
    sample *s = NULL;
    int n = 0;
    if (!load(tsv, &s, &n)) return 1;
    static const char *names[] = {"keep", "escalate", "private"};
    printf("%-8s %6s %9s %8s %7s %6s %s\n", "label", "tokens", "logprob", "entropy", "low-p",
           "check", "prompt");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        agent_draft d;
        if (agent_draft_run(g, s[i].prompt, &d) != MB_OK) {
            rc = cli_fail("%s", tool_last_error());
            break;
        }
        s[i].c = d.conf;
        s[i].n_prompt = d.n_prompt;
        s[i].pii = mb_text_has_pii(s[i].prompt, strlen(s[i].prompt));
        s[i].self_check = agent_self_check(g, s[i].prompt, d.text);
        free(d.text);
        printf("%-8s %6d %9.3f %8.3f %7.3f %6.3f %.50s\n", names[s[i].label], d.conf.n_tokens,
               d.conf.mean_logprob, d.conf.mean_entropy, d.conf.low_share, s[i].self_check,
               s[i].prompt);
    }
    long n_ctx = mb_session_n_ctx(g->session);
    double *v = rc ? NULL : malloc((size_t)(n + 1) * sizeof *v);
    mb_router_thresholds best = *current;
    double best_f1 = -1;
    printf("\n");
    for (int f = 0; v && f < 4; f++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (s[i].label != LABEL_PRIVATE) v[m++] = FEATURES[f].sign * value(&s[i], f);
        qsort(v, (size_t)m, sizeof *v, cmp_double);
        double fb = -1, tb = 0;
        int eb = 0;
        for (int c = 0; c <= m; c++) { /* below all values, between each pair */
            double t = c == 0 ? v[0] - 1 : c == m ? v[m - 1] + 1 : (v[c - 1] + v[c]) / 2;
            if (c > 0 && c < m && v[c - 1] == v[c]) continue;
            counts k = {0};
            int esc_n = 0;
            for (int i = 0; i < n; i++) {
                if (s[i].label == LABEL_PRIVATE) continue;
                int esc = FEATURES[f].sign * value(&s[i], f) > t,
                    pos = s[i].label == LABEL_ESCALATE;
                esc_n += esc;
                k.tp += esc && pos;
                k.fp += esc && !pos;
                k.fn += !esc && pos;
            }
            double sc = f1(k);
            if (sc > fb || (sc == fb && esc_n < eb)) fb = sc, tb = t, eb = esc_n;
        }
        printf("%-14s best threshold %s %.3f: F1 %.3f\n", FEATURES[f].name, FEATURES[f].flag,
               FEATURES[f].sign * tb, fb);
        if (f == 3) break; /* the self-check is not a router threshold (serve has none) */
        if (fb > best_f1) {
            best_f1 = fb;
            best = *current;
            best.min_mean_logprob = -1e30;
            best.max_mean_entropy = 1e30;
            best.max_low_share = 1;
            if (f == 0) best.max_mean_entropy = tb;
            if (f == 1) best.min_mean_logprob = -tb;
            if (f == 2) best.max_low_share = tb;
        }
    }
    if (v) {
        printf("\n");
        report("with the thresholds in use", s, n, current, n_ctx);
        report("with the best single threshold", s, n, &best, n_ctx);
        int with_pii = 0, n_private = 0, redactions = 0;
        for (int i = 0; i < n; i++) {
            if (s[i].label != LABEL_PRIVATE) continue;
            n_private++;
            with_pii += mb_text_has_pii(s[i].prompt, strlen(s[i].prompt));
            mb_redactor *r = NULL;
            char *red = NULL;
            if (mb_redactor_new(&r) == MB_OK &&
                mb_redact(r, s[i].prompt, strlen(s[i].prompt), &red, NULL) == MB_OK)
                redactions += mb_redactor_count(r);
            free(red);
            mb_redactor_free(r);
        }
        printf("  private prompts: %d, %d with personal data the redactor finds (%d values)\n",
               n_private, with_pii, redactions);
        for (int i = 0; i < n; i++)
            if (s[i].label == LABEL_PRIVATE && !s[i].pii)
                printf("  the redactor finds nothing in: %s\n", s[i].prompt);
        if (best.max_mean_entropy < 1e30)
            printf("\nflags: --max-entropy %.3f --min-logprob -1e30\n", best.max_mean_entropy);
        else if (best.min_mean_logprob > -1e30)
            printf("\nflags: --min-logprob %.3f --max-entropy 1e30\n", best.min_mean_logprob);
        else
            printf("\nflags: --max-low-share %.3f --low-p %.2f --max-entropy 1e30 --min-logprob "
                   "-1e30\n",
                   best.max_low_share, best.low_p);
    } else if (!rc) {
        rc = cli_fail("out of memory");
    }
    free(v);
    for (int i = 0; i < n; i++)
        free(s[i].prompt);
    free(s);
    return rc;
}
