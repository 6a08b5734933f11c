/* Logistic regression for the router (router_lr.h): small and exact — a
 * handful of features and a few hundred rows, so Newton's method with a
 * dense solve converges in a few steps. */
#include "agent/router_lr.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_error.h"

enum { D = MB_N_FEAT + 1 }; /* the weights and the bias */

static double sigmoid(double z) {
    return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

double mb_router_lr_prob(const mb_router_lr *r, const double *x) {
    double z = r->bias;
    for (int i = 0; i < MB_N_FEAT; i++) {
        /* Clamped, so a feature far off the scale (or a tiny scale) cannot
         * turn into inf and, times a zero weight, into NaN. */
        double v = (x[i] - r->mean[i]) / r->scale[i];
        v = v > 1e6 ? 1e6 : v < -1e6 ? -1e6 : v != v ? 0 : v;
        z += r->w[i] * v;
    }
    return sigmoid(z != z ? 0 : z);
}

/* Solve A v = b (D x D, A positive definite) by Gaussian elimination. */
static void solve(double a[D][D], double *b) {
    for (int c = 0; c < D; c++) {
        int p = c;
        for (int r = c + 1; r < D; r++)
            if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
        for (int k = 0; k < D; k++) {
            double t = a[c][k];
            a[c][k] = a[p][k];
            a[p][k] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        if (fabs(a[c][c]) < 1e-12) a[c][c] = 1e-12;
        for (int r = c + 1; r < D; r++) {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < D; k++)
                a[r][k] -= f * a[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int c = D - 1; c >= 0; c--) {
        for (int k = c + 1; k < D; k++)
            b[c] -= a[c][k] * b[k];
        b[c] /= a[c][c];
    }
}

void mb_router_lr_fit(const double *x, const int *y, int n, double l2, mb_router_lr *r) {
    for (int f = 0; f < MB_N_FEAT; f++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++)
            s += x[i * MB_N_FEAT + f];
        double m = n ? s / n : 0;
        for (int i = 0; i < n; i++)
            s2 += (x[i * MB_N_FEAT + f] - m) * (x[i * MB_N_FEAT + f] - m);
        double sd = n > 1 ? sqrt(s2 / (n - 1)) : 0;
        r->mean[f] = m;
        r->scale[f] = sd > 1e-9 ? sd : 1; /* a constant feature gets weight 0 by the penalty */
        r->w[f] = 0;
    }
    r->bias = 0;
    r->l2 = l2;
    for (int it = 0; it < 50; it++) {
        double h[D][D] = {{0}}, g[D] = {0}, z[D];
        for (int i = 0; i < n; i++) {
            for (int f = 0; f < MB_N_FEAT; f++)
                z[f] = (x[i * MB_N_FEAT + f] - r->mean[f]) / r->scale[f];
            z[MB_N_FEAT] = 1;
            double p = mb_router_lr_prob(r, x + i * MB_N_FEAT), wgt = p * (1 - p);
            for (int a = 0; a < D; a++) {
                g[a] += (p - y[i]) * z[a];
                for (int b = 0; b < D; b++)
                    h[a][b] += wgt * z[a] * z[b];
            }
        }
        for (int f = 0; f < MB_N_FEAT; f++) {
            g[f] += l2 * r->w[f];
            h[f][f] += l2;
        }
        h[MB_N_FEAT][MB_N_FEAT] += 1e-9;
        solve(h, g);
        double step = 0;
        for (int f = 0; f < MB_N_FEAT; f++) {
            r->w[f] -= g[f];
            step += fabs(g[f]);
        }
        r->bias -= g[MB_N_FEAT];
        if (step + fabs(g[MB_N_FEAT]) < 1e-9) break;
    }
}

/* Among the thresholds (each out-of-fold probability) whose recall is >=
 * TARGET: the best precision, ties to the higher recall (the lower
 * threshold), so the target is kept with a margin where precision allows. */
static double best_threshold(const double *p, const int *y, int n, double target) {
    int pos = 0;
    for (int i = 0; i < n; i++)
        pos += y[i];
    double best = 0, best_prec = -1, best_rec = -1;
    for (int i = 0; i < n; i++) {
        int tp = 0, fp = 0;
        for (int j = 0; j < n; j++)
            if (p[j] >= p[i]) tp += y[j], fp += !y[j];
        double rec = pos ? (double)tp / pos : 0, prec = tp + fp ? (double)tp / (tp + fp) : 0;
        if (rec < target) continue;
        if (prec > best_prec || (prec == best_prec && rec > best_rec) ||
            (prec == best_prec && rec == best_rec && p[i] > best))
            best = p[i], best_prec = prec, best_rec = rec;
    }
    return best;
}

void mb_router_lr_cv(const double *x, const int *y, int n, int k, const double *grid, int n_grid,
                     double target, mb_router_lr *r, double *oof) {
    double *p = malloc((size_t)(n ? n : 1) * sizeof *p),
           *bx = malloc((size_t)(n ? n : 1) * MB_N_FEAT * sizeof *bx);
    int *by = malloc((size_t)(n ? n : 1) * sizeof *by);
    double best_ll = -INFINITY, best_l2 = grid[0];
    for (int gi = 0; p && bx && by && gi < n_grid; gi++) {
        double ll = 0;
        for (int fold = 0; fold < k; fold++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if (i % k != fold) {
                    memcpy(bx + (size_t)m * MB_N_FEAT, x + (size_t)i * MB_N_FEAT,
                           MB_N_FEAT * sizeof *bx);
                    by[m++] = y[i];
                }
            mb_router_lr tmp = *r;
            mb_router_lr_fit(bx, by, m, grid[gi], &tmp);
            for (int i = fold; i < n; i += k) {
                double q = mb_router_lr_prob(&tmp, x + (size_t)i * MB_N_FEAT);
                q = q < 1e-12 ? 1e-12 : q > 1 - 1e-12 ? 1 - 1e-12 : q;
                ll += y[i] ? log(q) : log(1 - q);
            }
        }
        if (ll > best_ll) best_ll = ll, best_l2 = grid[gi];
    }
    /* The out-of-fold probabilities with the chosen L2 give the threshold. */
    for (int fold = 0; p && bx && by && fold < k; fold++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (i % k != fold) {
                memcpy(bx + (size_t)m * MB_N_FEAT, x + (size_t)i * MB_N_FEAT,
                       MB_N_FEAT * sizeof *bx);
                by[m++] = y[i];
            }
        mb_router_lr tmp = *r;
        mb_router_lr_fit(bx, by, m, best_l2, &tmp);
        for (int i = fold; i < n; i += k)
            p[i] = mb_router_lr_prob(&tmp, x + (size_t)i * MB_N_FEAT);
    }
    mb_router_lr_fit(x, y, n, best_l2, r);
    r->target_recall = target;
    if (p) r->threshold = best_threshold(p, y, n, target);
    if (oof && p) memcpy(oof, p, (size_t)n * sizeof *p);
    free(p);
    free(bx);
    free(by);
}

double mb_auc(const double *x, const int *y, int n) {
    double s = 0;
    long pairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] && !y[j]) {
                s += x[i] > x[j] ? 1 : x[i] == x[j] ? 0.5 : 0;
                pairs++;
            }
    return pairs ? s / (double)pairs : 0.5;
}

/* ---- the file ------------------------------------------------------------ */

static int read_vec(const cJSON *obj, const char *key, double *out) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsObject(o)) return 0;
    for (int i = 0; i < MB_N_FEAT; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, mb_feature_names[i]);
        if (!cJSON_IsNumber(v)) return 0;
        out[i] = v->valuedouble;
    }
    return 1;
}

mb_status mb_router_lr_parse(const char *text, size_t len, const char *what, mb_router_lr *r) {
    cJSON *root = cJSON_ParseWithLength(text, len);
    memset(r, 0, sizeof *r);
    const char *bad = NULL;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "bias");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "threshold");
    const cJSON *nd = cJSON_GetObjectItemCaseSensitive(root, "n_draft");
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(root, "low_p");
    if (!root)
        bad = "not JSON";
    else if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "matchbox-router-1"))
        bad = "\"format\" is not \"matchbox-router-1\"";
    else if (!read_vec(root, "mean", r->mean))
        bad = "\"mean\" lacks a feature";
    else if (!read_vec(root, "scale", r->scale))
        bad = "\"scale\" lacks a feature";
    else if (!read_vec(root, "weights", r->w))
        bad = "\"weights\" lacks a feature";
    else if (!cJSON_IsNumber(b) || !cJSON_IsNumber(t))
        bad = "\"bias\" or \"threshold\" is not a number";
    else if (!cJSON_IsNumber(nd) || nd->valuedouble < 1 || nd->valuedouble > 65536 ||
             !cJSON_IsNumber(lp) || !((float)lp->valuedouble > 0 && (float)lp->valuedouble < 1))
        /* Tested as the float it is stored in: 1e-50 or 0.9999999999 are in
         * (0, 1) as doubles but round to 0 or 1. */
        bad = "\"n_draft\" or \"low_p\" is missing or out of range";
    for (int i = 0; !bad && i < MB_N_FEAT; i++)
        if (!(r->scale[i] > 0) || !isfinite(r->scale[i]) || !isfinite(r->mean[i]) ||
            !isfinite(r->w[i]))
            bad = "a \"mean\", \"scale\" or \"weights\" value is not finite (or a scale <= 0)";
    if (!bad && (!isfinite(b->valuedouble) || !isfinite(t->valuedouble)))
        bad = "\"bias\" or \"threshold\" is not finite";
    if (!bad) {
        r->bias = b->valuedouble;
        r->threshold = t->valuedouble;
        r->n_draft = (int)nd->valuedouble;
        r->low_p = (float)lp->valuedouble;
    }
    cJSON_Delete(root);
    if (bad) return tool_errorf(MB_ERR_FORMAT, "router %s: %s", what, bad);
    return MB_OK;
}

mb_status mb_router_lr_load(const char *path, mb_router_lr *r) {
    FILE *f = fopen(path, "rb");
    if (!f) return tool_errorf(MB_ERR_IO, "router %s: cannot open it", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            char *t = realloc(text, cap = (cap + 4096) * 2);
            if (!t) break;
            text = t;
        }
        size_t k = fread(text + len, 1, cap - len, f);
        if (!k) break;
        len += k;
    }
    fclose(f);
    mb_status st = text ? mb_router_lr_parse(text, len, path, r)
                        : tool_errorf(MB_ERR_NO_MEMORY, "router %s: no memory", path);
    free(text);
    return st;
}

static cJSON *vec(const double *v) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < MB_N_FEAT; i++)
        cJSON_AddNumberToObject(o, mb_feature_names[i], v[i]);
    return o;
}

mb_status mb_router_lr_save(const char *path, const mb_router_lr *r, const char *model,
                            const char *note) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "matchbox-router-1");
    if (model) cJSON_AddStringToObject(o, "model", model);
    if (note) cJSON_AddStringToObject(o, "note", note);
    cJSON_AddNumberToObject(o, "n_draft", r->n_draft);
    cJSON_AddNumberToObject(o, "low_p", r->low_p);
    cJSON_AddItemToObject(o, "mean", vec(r->mean));
    cJSON_AddItemToObject(o, "scale", vec(r->scale));
    cJSON_AddItemToObject(o, "weights", vec(r->w));
    cJSON_AddNumberToObject(o, "bias", r->bias);
    cJSON_AddNumberToObject(o, "threshold", r->threshold);
    cJSON_AddNumberToObject(o, "l2", r->l2);
    cJSON_AddNumberToObject(o, "target_recall", r->target_recall);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    FILE *f = text ? fopen(path, "wb") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f)) ok = 0;
    free(text);
    if (!ok) return tool_errorf(MB_ERR_IO, "router %s: cannot write it", path);
    return MB_OK;
}

int mb_router_decide(const mb_agent_features *f, const mb_router_lr *router,
                     const mb_router_thresholds *t, char *reason, size_t cap) {
    if (!router) return mb_route_after(&f->conf, t, reason, cap);
    double p = mb_router_lr_prob(router, f->x);
    int esc = p >= router->threshold;
    snprintf(reason, cap, "%s: router p(escalate) %.3f %s %.3f",
             esc ? "low confidence" : "confident", p, esc ? ">=" : "<", router->threshold);
    return esc;
}
