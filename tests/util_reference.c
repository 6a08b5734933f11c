/* Readers for the reference outputs in ../shared/reference. */
#include "util_reference.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int mbt_read_ids(const char *path, int32_t *ids, int cap) {
    size_t len;
    char *text = mbt_read_file(path, &len);
    if (!text) return -1;
    int n = 0;
    char *p = text, *end;
    for (;;) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        if (n < cap) ids[n] = (int32_t)v;
        n++;
        p = end;
    }
    free(text);
    return n;
}

float *mbt_read_f32(const char *path, size_t *n) {
    size_t len;
    char *raw = mbt_read_file(path, &len);
    if (!raw) return NULL;
    *n = len / sizeof(float);
    float *out = malloc(len + sizeof(float));
    if (out) memcpy(out, raw, len);
    free(raw);
    return out;
}

int mbt_read_steps(const char *path, mbt_step *steps, int cap) {
    size_t len;
    char *text = mbt_read_file(path, &len);
    if (!text) return -1;
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!isdigit((unsigned char)line[0]) || n >= cap) continue;
        mbt_step *s = &steps[n];
        memset(s, 0, sizeof *s);
        /* step \t id \t logit \t piece \t top5; the piece may hold anything
         * but a tab, so the top-5 field is the last tab-separated one. */
        char *last_tab = strrchr(line, '\t');
        if (!last_tab) continue;
        s->id = (int32_t)strtol(strchr(line, '\t') + 1, NULL, 10);
        char *p = last_tab + 1, *end;
        while (s->n_top < 5) {
            long id = strtol(p, &end, 10);
            if (end == p || *end != ':') break;
            s->top_id[s->n_top] = (int32_t)id;
            s->top_logit[s->n_top] = strtof(end + 1, &p);
            s->n_top++;
        }
        n++;
    }
    free(text);
    return n;
}

int mbt_json_numbers(const char *json, const char *key, double *out, int cap) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *p = strstr(json, pattern);
    if (!p) return -1;
    p = strchr(p + strlen(pattern), '[');
    if (!p) return -1;
    int depth = 0, n = 0;
    for (; *p; p++) {
        if (*p == '[') {
            depth++;
        } else if (*p == ']') {
            if (--depth == 0) break;
        } else if (*p == '-' || isdigit((unsigned char)*p)) {
            char *end;
            double v = strtod(p, &end);
            if (n < cap) out[n] = v;
            n++;
            p = end - 1;
        }
    }
    return n;
}
