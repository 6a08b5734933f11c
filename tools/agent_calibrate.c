/* matchbox agent MODEL --calibrate FILE: score a labeled set with the
 * guardian (one "label TAB [split TAB] prompt" a line; labels keep,
 * escalate, private; split train or test, train when absent), print each
 * prompt's features and each feature's AUC, then either fit a router on the
 * train part (logistic regression, k-fold cross-validation for the L2 and
 * the threshold: router_lr.h) and report it cross-validated and on the
 * held-out test part, or evaluate the router given with --router. The test
 * part is never used to fit or to choose anything (docs/AGENT.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent/redact.h"
#include "cli.h"
#include "common/tool_clock.h"
#include "common/tool_error.h"

enum { LABEL_KEEP, LABEL_ESCALATE, LABEL_PRIVATE };
enum { K_FOLDS = 5 };

typedef struct {
    int label, test;
    char *prompt;
    int pii; /* the redactor finds personal data in it */
    mb_agent_features f;
} sample;

static int parse_line(char *line, sample *s, const char *path, int line_no) {
    char *tab = strchr(line, '\t');
    if (!tab)
        return cli_fail("%s: line %d: no TAB between the label and the prompt", path, line_no);
    *tab = '\0';
    char *prompt = tab + 1;
    int test = 0;
    char *tab2 = strchr(prompt, '\t');
    if (tab2 && (!strncmp(prompt, "train\t", 6) || !strncmp(prompt, "test\t", 5))) {
        test = prompt[1] == 'e';
        prompt = tab2 + 1;
    }
    int label = !strcmp(line, "keep")       ? LABEL_KEEP
                : !strcmp(line, "escalate") ? LABEL_ESCALATE
                : !strcmp(line, "private")  ? LABEL_PRIVATE
                                            : -1;
    if (label < 0)
        return cli_fail("%s: line %d: the label '%s' is not keep, escalate or private", path,
                        line_no, line);
    *s = (sample){.label = label, .test = test, .prompt = strdup(prompt)};
    return s->prompt ? 0 : cli_fail("out of memory");
}

static int load(const char *path, sample **out, int *n_out) {
    size_t len = 0;
    char *text = cli_read_all(path, &len);
    if (!text) return cli_fail("%s", tool_last_error()), 0;
    int n = 0, cap = 0, line_no = 0, ok = 1;
    sample *s = NULL;
    for (char *line = text, *next; ok && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        line_no++;
        line[strcspn(line, "\r")] = '\0';
        if (!*line || *line == '#') continue;
        if (n == cap) {
            sample *t = realloc(s, (size_t)(cap = cap ? cap * 2 : 64) * sizeof *t);
            if (!t) {
                ok = !cli_fail("out of memory");
                break;
            }
            s = t;
        }
        if (parse_line(line, &s[n], path, line_no))
            ok = 0;
        else
            n++;
    }
    free(text);
    if (!ok) {
        for (int i = 0; i < n; i++)
            free(s[i].prompt);
        free(s);
        return 0;
    }
    *out = s;
    *n_out = n;
    return 1;
}

typedef struct {
    int tp, fp, fn, tn, sent, total;
    long sent_tokens, total_tokens;
} counts;

/* Route the keep/escalate samples of PART (0 train, 1 test, -1 both) with
 * ESC[i] the decision; private ones are left out (they are marked). */
static counts tally(const sample *s, int n, const int *esc, int part) {
    counts k = {0};
    for (int i = 0; i < n; i++) {
        if (s[i].label == LABEL_PRIVATE || (part >= 0 && s[i].test != part)) continue;
        int pos = s[i].label == LABEL_ESCALATE;
        k.tp += esc[i] && pos;
        k.fp += esc[i] && !pos;
        k.fn += !esc[i] && pos;
        k.tn += !esc[i] && !pos;
        k.total++;
        k.total_tokens += s[i].f.n_prompt;
        if (esc[i]) k.sent++, k.sent_tokens += s[i].f.n_prompt;
    }
    return k;
}

static void print_counts(const char *title, counts k) {
    double prec = k.tp + k.fp ? (double)k.tp / (k.tp + k.fp) : 0;
    double rec = k.tp + k.fn ? (double)k.tp / (k.tp + k.fn) : 0;
    printf("%s: escalation precision %.3f, recall %.3f (tp %d, fp %d, fn %d, tn %d); oracle "
           "traffic %d of %d requests (%.1f%%), %ld of %ld prompt tokens (%.1f%%)\n",
           title, prec, rec, k.tp, k.fp, k.fn, k.tn, k.sent, k.total,
           k.total ? 100.0 * k.sent / k.total : 0, k.sent_tokens, k.total_tokens,
           k.total_tokens ? 100.0 * (double)k.sent_tokens / (double)k.total_tokens : 0);
}

static void print_auc(const sample *s, int n) {
    double *x = malloc((size_t)n * sizeof *x);
    int *y = malloc((size_t)n * sizeof *y);
    printf("\nfeature AUC (escalate above keep; 0.5 is no separation, below 0.5 separates "
           "the other way):\n%-16s %7s %7s\n",
           "feature", "train", "test");
    for (int f = 0; x && y && f < MB_N_FEAT; f++) {
        double auc[2];
        for (int part = 0; part < 2; part++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if (s[i].label != LABEL_PRIVATE && s[i].test == part) {
                    x[m] = s[i].f.x[f];
                    y[m++] = s[i].label == LABEL_ESCALATE;
                }
            auc[part] = mb_auc(x, y, m);
        }
        printf("%-16s %7.3f %7.3f\n", mb_feature_names[f], auc[0], auc[1]);
    }
    free(x);
    free(y);
}

static void print_private(const sample *s, int n, const int *esc) {
    int total = 0, unmarked = 0, pii_leaks = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].label != LABEL_PRIVATE) continue;
        total++;
        unmarked += esc[i];
        if (esc[i] && !s[i].pii) {
            pii_leaks++;
            printf("  --private-if-pii would send: %.70s\n", s[i].prompt);
        }
    }
    printf("private prompts that left the device: 0 of %d (marked private: never sent); unmarked, "
           "%d would be sent redacted; with --private-if-pii instead of marks, %d\n",
           total, unmarked, pii_leaks);
}

/* Fit on the train part, report cross-validated and held-out numbers. */
static int fit(agent_guardian *g, const char *tsv, const sample *s, int n, int *esc,
               const char *router_out, double target) {
    int m = 0;
    double *x = malloc((size_t)n * MB_N_FEAT * sizeof *x), *oof = malloc((size_t)n * sizeof *oof);
    int *y = malloc((size_t)n * sizeof *y), *idx = malloc((size_t)n * sizeof *idx);
    if (!x || !oof || !y || !idx) {
        free(x), free(oof), free(y), free(idx);
        return cli_fail("out of memory");
    }
    for (int i = 0; i < n; i++)
        if (s[i].label != LABEL_PRIVATE && !s[i].test) {
            memcpy(x + (size_t)m * MB_N_FEAT, s[i].f.x, sizeof s[i].f.x);
            y[m] = s[i].label == LABEL_ESCALATE;
            idx[m++] = i;
        }
    static const double grid[] = {1e-3, 1e-2, 0.1, 1, 10, 100};
    mb_router_lr r = {.n_draft = g->n_predict, .low_p = g->low_p};
    mb_router_lr_cv(x, y, m, K_FOLDS, grid, (int)(sizeof grid / sizeof *grid), target, &r, oof);
    printf("\nrouter: logistic regression on %d train prompts, %d-fold CV: L2 %g, threshold %.4f "
           "(best CV precision with CV recall >= %.2f)\n",
           m, K_FOLDS, r.l2, r.threshold, target);
    for (int f = 0; f < MB_N_FEAT; f++)
        printf("  weight %-16s %+8.3f (mean %.4g, scale %.4g)\n", mb_feature_names[f], r.w[f],
               r.mean[f], r.scale[f]);
    for (int i = 0; i < n; i++)
        esc[i] = 0;
    for (int j = 0; j < m; j++)
        esc[idx[j]] = oof[j] >= r.threshold;
    print_counts("cross-validated (train)", tally(s, n, esc, 0));
    for (int i = 0; i < n; i++)
        esc[i] = mb_router_lr_prob(&r, s[i].f.x) >= r.threshold;
    print_counts("held-out (test)        ", tally(s, n, esc, 1));
    int rc = 0;
    if (router_out) {
        char note[256];
        const char *base = strrchr(tsv, '/');
        snprintf(note, sizeof note, "fitted on the train part (%d keep/escalate prompts) of %s", m,
                 base ? base + 1 : tsv);
        const char *slash = g->model_path ? strrchr(g->model_path, '/') : NULL;
        if (mb_router_lr_save(router_out, &r, slash ? slash + 1 : g->model_path, note) != MB_OK)
            rc = cli_fail("%s", tool_last_error());
        else
            printf("router written to %s\n", router_out);
    }
    free(x), free(oof), free(y), free(idx);
    return rc;
}

int agent_calibrate(agent_guardian *g, const char *tsv, const mb_router_thresholds *t,
                    const char *router_out, double target) {
    sample *s = NULL;
    int n = 0;
    if (!load(tsv, &s, &n)) return 1;
    static const char *names[] = {"keep", "escalate", "private"};
    printf("%-8s %-5s %6s %6s %7s %6s %5s %5s %5s %s\n", "label", "split", "nll", "tail", "logprob",
           "entr", "low", "rep", "len", "prompt");
    int rc = 0;
    double t0 = tool_now();
    for (int i = 0; i < n && !rc; i++) {
        agent_draft d;
        if (agent_draft_run(g, s[i].prompt, &d) != MB_OK) {
            rc = cli_fail("%s", tool_last_error());
            break;
        }
        free(d.text);
        s[i].f = d.feat;
        s[i].pii = mb_text_has_pii(s[i].prompt, strlen(s[i].prompt));
        const double *x = d.feat.x;
        printf("%-8s %-5s %6.3f %6.3f %7.3f %6.3f %5.3f %5.3f %5.2f %.50s\n", names[s[i].label],
               s[i].test ? "test" : "train", x[0], x[1], x[2], x[3], x[4], x[5], x[6], s[i].prompt);
    }
    int *esc = rc ? NULL : calloc((size_t)n + 1, sizeof *esc);
    if (esc) {
        printf("(%d prompts scored in %.2f s)\n", n, tool_now() - t0);
        print_auc(s, n);
        if (g->router) {
            printf("\nthe router given (threshold %.4f, draft of %d tokens):\n",
                   g->router->threshold, g->router->n_draft);
            char why[256];
            for (int i = 0; i < n; i++)
                esc[i] = mb_router_decide(&s[i].f, g->router, t, why, sizeof why);
            print_counts("train", tally(s, n, esc, 0));
            print_counts("test ", tally(s, n, esc, 1));
        } else {
            rc = fit(g, tsv, s, n, esc, router_out, target);
        }
        printf("flags: --router FILE (or, without one, the thresholds: --min-logprob %.3f)\n",
               t->min_mean_logprob);
        print_private(s, n, esc);
    } else if (!rc) {
        rc = cli_fail("out of memory");
    }
    free(esc);
    for (int i = 0; i < n; i++)
        free(s[i].prompt);
    free(s);
    return rc;
}
