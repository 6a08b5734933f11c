/* The redactor on the labeled PII set tests/data/agent_pii.tsv (issue 24):
 * every marked value ({{KIND|value}}) must be wholly replaced — recall per
 * kind, at least 0.98 over all — and the redactions that touch no marked
 * value are counted as false positives, per kind and as the share of the
 * lines without personal data that lose anything. Prints the table
 * docs/PRIVACY.md quotes, every miss, and the cost per request. */
#include <time.h>

#include "agent/pii_detect.h"
#include "agent/redact.h"
#include "test_util.h"

enum { MAX_VALUES = 16 };

typedef struct {
    char *text; /* the line without its marks */
    size_t len;
    int n_values;
    size_t start[MAX_VALUES], end[MAX_VALUES];
    int kind[MAX_VALUES];
} pii_line;

static int kind_of(const char *s, size_t n) {
    for (int k = 0; k < MB_PII_KIND_COUNT; k++)
        if (strlen(mb_pii_kind_name((mb_pii_kind)k)) == n &&
            !memcmp(mb_pii_kind_name((mb_pii_kind)k), s, n))
            return k;
    return -1;
}

/* Strip the marks of SRC (one line, after the language column) into L. */
static int parse(const char *src, pii_line *l) {
    size_t n = strlen(src);
    l->text = malloc(n + 1);
    l->len = 0;
    l->n_values = 0;
    for (size_t i = 0; i < n;) {
        if (!strncmp(src + i, "\\n", 2)) {
            l->text[l->len++] = '\n';
            i += 2;
        } else if (!strncmp(src + i, "{{", 2)) {
            const char *bar = strchr(src + i, '|'), *close = strstr(src + i, "}}");
            if (!bar || !close || bar > close || l->n_values == MAX_VALUES) return 0;
            int k = kind_of(src + i + 2, (size_t)(bar - src - i - 2));
            if (k < 0) return 0;
            l->kind[l->n_values] = k;
            l->start[l->n_values] = l->len;
            for (const char *p = bar + 1; p < close; p++)
                l->text[l->len++] = *p;
            l->end[l->n_values++] = l->len;
            i = (size_t)(close - src) + 2;
        } else {
            l->text[l->len++] = src[i++];
        }
    }
    l->text[l->len] = '\0';
    return 1;
}

/* Measure the redactor on NAME (in tests/data); returns the recall and
 * writes the clean lines' false-positive rate to *FP_RATE. */
static double measure(const char *name, double *fp_rate, int *n_values);

int main(void) {
    double fp = 0, fp_fresh = 0;
    int n = 0, n_fresh = 0;
    double recall = measure("agent_pii.tsv", &fp, &n);
    CHECK(n >= 200);
    CHECK_MSG(recall >= 0.98, "recall %.3f", recall);
    CHECK_MSG(fp <= 0.10, "false-positive rate %.3f on the clean lines", fp);
    /* The fresh set was written after the rules and never tuned on: its
     * recall is reported, and only guarded against a collapse. */
    double fresh = measure("agent_pii_fresh.tsv", &fp_fresh, &n_fresh);
    CHECK(n_fresh >= 50);
    CHECK_MSG(fresh >= 0.5, "fresh recall %.3f", fresh);
    CHECK_MSG(fp_fresh <= 0.25, "fresh false-positive rate %.3f", fp_fresh);
    /* The third set, written before the rules that the second one prompted. */
    double fresh2 = measure("agent_pii_fresh2.tsv", &fp_fresh, &n_fresh);
    CHECK(n_fresh >= 40);
    CHECK_MSG(fresh2 >= 0.5, "fresh2 recall %.3f", fresh2);
    CHECK_MSG(fp_fresh <= 0.25, "fresh2 false-positive rate %.3f", fp_fresh);
    return mbt_finish();
}

static double measure(const char *name, double *fp_rate, int *n_values) {
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
             "data/%s", name);
    printf("\n%s:\n", name);
    size_t size = 0;
    char *file = mbt_read_file(path, &size);
    if (!file) mbt_skip("a PII set in tests/data is absent");
    pii_line lines[512];
    int n_lines = 0;
    for (char *line = strtok(file, "\n"); line && n_lines < 512; line = strtok(NULL, "\n")) {
        if (*line == '#' || !*line) continue;
        char *tab = strchr(line, '\t');
        CHECK_MSG(tab != NULL, "no language column: %s", line);
        if (!tab) continue;
        int ok = parse(tab + 1, &lines[n_lines]);
        CHECK_MSG(ok, "bad marks: %s", line);
        if (ok) n_lines++;
    }
    int values[MB_PII_KIND_COUNT] = {0}, found[MB_PII_KIND_COUNT] = {0};
    int spans_k[MB_PII_KIND_COUNT] = {0}, false_k[MB_PII_KIND_COUNT] = {0};
    int clean = 0, clean_hit = 0, total = 0, total_found = 0;
    for (int li = 0; li < n_lines; li++) {
        pii_line *l = &lines[li];
        mb_pii_span *sp = NULL;
        size_t ns = 0;
        CHECK(mb_pii_find(l->text, l->len, &sp, &ns) == MB_OK);
        unsigned char *cov = calloc(l->len + 1, 1);
        for (size_t s = 0; s < ns; s++) {
            memset(cov + sp[s].start, 1, sp[s].end - sp[s].start);
            int touches = 0;
            for (int v = 0; v < l->n_values; v++)
                touches |= sp[s].start < l->end[v] && sp[s].end > l->start[v];
            spans_k[sp[s].kind]++;
            if (!touches) {
                false_k[sp[s].kind]++;
                printf("  false positive %s: \"%.*s\" in: %s\n", mb_pii_kind_name(sp[s].kind),
                       (int)(sp[s].end - sp[s].start), l->text + sp[s].start, l->text);
            }
        }
        if (l->n_values == 0) clean++, clean_hit += ns > 0;
        for (int v = 0; v < l->n_values; v++) {
            int whole = 1;
            for (size_t b = l->start[v]; b < l->end[v]; b++)
                whole &= cov[b] || l->text[b] == ' ';
            values[l->kind[v]]++;
            found[l->kind[v]] += whole;
            total++;
            total_found += whole;
            if (!whole)
                printf("  miss %s: \"%.*s\" in: %s\n", mb_pii_kind_name((mb_pii_kind)l->kind[v]),
                       (int)(l->end[v] - l->start[v]), l->text + l->start[v], l->text);
        }
        free(cov);
        free(sp);
    }
    printf("| kind | values | replaced | recall | redactions | false | false share |\n"
           "|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < MB_PII_KIND_COUNT; k++)
        printf("| %s | %d | %d | %.3f | %d | %d | %.3f |\n", mb_pii_kind_name((mb_pii_kind)k),
               values[k], found[k], values[k] ? (double)found[k] / values[k] : 1, spans_k[k],
               false_k[k], spans_k[k] ? (double)false_k[k] / spans_k[k] : 0);
    double recall = total ? (double)total_found / total : 0;
    *fp_rate = clean ? (double)clean_hit / clean : 0;
    *n_values = total;
    printf("all: %d of %d values replaced, recall %.3f; %d of %d lines without personal data "
           "lost something (false-positive rate %.3f)\n",
           total_found, total, recall, clean_hit, clean, clean ? (double)clean_hit / clean : 0);
    /* The cost per request: redact every line, many times. */
    mb_redactor *r = NULL;
    CHECK(mb_redactor_new(&r) == MB_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t bytes = 0;
    int reps = 50;
    for (int rep = 0; rep < reps; rep++)
        for (int li = 0; li < n_lines; li++) {
            char *out = NULL;
            if (mb_redact(r, lines[li].text, lines[li].len, &out, NULL) == MB_OK) free(out);
            bytes += lines[li].len;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("cost: %.2f us per request (%d lines of %.0f bytes on average), %.1f MB/s\n",
           1e6 * s / (reps * n_lines), n_lines, (double)bytes / (reps * n_lines), bytes / s / 1e6);
    mb_redactor_free(r);
    for (int li = 0; li < n_lines; li++)
        free(lines[li].text);
    free(file);
    return recall;
}
