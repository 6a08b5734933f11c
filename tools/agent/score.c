/* The guardian's tokens and features (score.h). */
#include "agent/score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_error.h"

const char *const mb_feature_names[MB_N_FEAT] = {
    "prompt_nll",      "prompt_nll_tail", "draft_logprob", "draft_entropy",
    "draft_low_share", "draft_repeat",    "log_len"};

static mb_token *tokenize(const mb_model *m, const char *text, size_t len, int add_special,
                          int parse_special, size_t *n) {
    size_t need = 0;
    mb_tokenize(m, text, len, add_special, parse_special, NULL, 0, &need);
    mb_token *ids = malloc((need + 1) * sizeof *ids);
    if (ids && mb_tokenize(m, text, len, add_special, parse_special, ids, need, n) != MB_OK) {
        free(ids);
        ids = NULL;
    }
    return ids;
}

mb_token *mb_agent_render(const mb_model *model, const char *tmpl, const mb_chat_message *msgs,
                          size_t n, int is_chat, size_t *n_out) {
    *n_out = 0;
    if (!is_chat) return tokenize(model, msgs[0].content, strlen(msgs[0].content), 1, 0, n_out);
    size_t need = 0, len = 0;
    char *text = NULL;
    if (tmpl) {
        mb_chat_apply(model, tmpl, msgs, n, 1, NULL, 0, &need);
        if (!(text = malloc(need + 1)) ||
            mb_chat_apply(model, tmpl, msgs, n, 1, text, need + 1, &len) != MB_OK) {
            free(text);
            return NULL;
        }
        mb_token *ids = tokenize(model, text, len, mb_chat_add_special(model, text, len), 1, n_out);
        free(text);
        return ids;
    }
    /* Plain text: what a completion of the same words would read. */
    for (size_t i = 0; i < n; i++)
        need += (msgs[i].content ? strlen(msgs[i].content) : 0) + 1;
    if (!(text = malloc(need + 1))) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].content || !*msgs[i].content) continue;
        if (len) text[len++] = '\n';
        size_t k = strlen(msgs[i].content);
        memcpy(text + len, msgs[i].content, k);
        len += k;
    }
    text[len] = '\0';
    mb_token *ids = tokenize(model, text, len, 1, 0, n_out);
    free(text);
    return ids;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static int argmax(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

enum { CHUNK = 64 }; /* prompt positions whose logits are held at once */

static void add_nll(double *nll, size_t *k, const float *logits, int n_vocab, mb_token id) {
    double lp, h;
    mb_logits_stats(logits, n_vocab, id, &lp, &h);
    nll[(*k)++] = isfinite(lp) ? -lp : 100;
}

/* The prompt's surprise: its tokens' NLL, each from the logits before it. */
static mb_status prompt_nll(mb_session *session, int n_vocab, const mb_token *ids, size_t m,
                            float *prev, mb_agent_features *f) {
    double *nll = malloc((m + 1) * sizeof *nll);
    float *lg = malloc((size_t)CHUNK * (size_t)n_vocab * sizeof *lg);
    mb_status st = nll && lg ? MB_OK : MB_ERR_NO_MEMORY;
    size_t n_nll = 0;
    for (size_t i = 0; i < m && !st; i += CHUNK) {
        size_t k = m - i < CHUNK ? m - i : CHUNK;
        if ((st = mb_session_eval_all(session, ids + i, k, lg))) break;
        if (i > 0) add_nll(nll, &n_nll, prev, n_vocab, ids[i]);
        for (size_t r = 0; r + 1 < k; r++)
            add_nll(nll, &n_nll, lg + r * (size_t)n_vocab, n_vocab, ids[i + r + 1]);
        memcpy(prev, lg + (k - 1) * (size_t)n_vocab, (size_t)n_vocab * sizeof *prev);
    }
    if (!st && n_nll > 0) {
        double sum = 0;
        for (size_t i = 0; i < n_nll; i++)
            sum += nll[i];
        f->x[MB_FEAT_PROMPT_NLL] = sum / (double)n_nll;
        qsort(nll, n_nll, sizeof *nll, cmp_desc);
        size_t q = (n_nll + 3) / 4;
        sum = 0;
        for (size_t i = 0; i < q; i++)
            sum += nll[i];
        f->x[MB_FEAT_PROMPT_TAIL] = sum / (double)q;
    }
    free(nll);
    free(lg);
    return st;
}

typedef struct {
    char *text;
    size_t len, cap;
} buf_t;

static int append_piece(const mb_model *model, mb_token id, buf_t *b) {
    char piece[256];
    size_t pl = 0;
    if (mb_token_to_piece(model, id, 0, piece, sizeof piece, &pl) != MB_OK) return 1;
    if (b->len + pl + 1 > b->cap) {
        size_t cap = (b->len + pl + 1) * 2;
        char *t = realloc(b->text, cap);
        if (!t) return 0;
        b->text = t;
        b->cap = cap;
    }
    memcpy(b->text + b->len, piece, pl);
    b->len += pl;
    b->text[b->len] = '\0';
    return 1;
}

mb_status mb_agent_score(const mb_model *model, mb_session *session, const mb_token *ids, size_t n,
                         int n_draft, float low_p, mb_agent_features *f, char **draft,
                         size_t *draft_len) {
    memset(f, 0, sizeof *f);
    if (draft) *draft = NULL;
    if (draft_len) *draft_len = 0;
    if (n == 0) return tool_errorf(MB_ERR_INVALID_ARG, "guardian: the prompt has no tokens");
    const int n_ctx = mb_session_n_ctx(session), n_vocab = mb_model_n_vocab(model);
    const int room = n_draft > 0 && n_draft < n_ctx / 2 ? n_draft : n_ctx / 2;
    size_t first = 0;
    f->n_prompt = (long)n;
    if (n + (size_t)room > (size_t)n_ctx) { /* keep the end, which holds the question */
        first = n - (size_t)(n_ctx - room);
        f->cut = 1;
    }
    float *cur = malloc((size_t)n_vocab * sizeof *cur);
    mb_token *out = malloc(((size_t)room + 1) * sizeof *out);
    buf_t b = {calloc(1, 1), 0, 1};
    mb_status st = cur && out && b.text ? mb_session_rewind(session, 0) : MB_ERR_NO_MEMORY;
    if (!st) st = prompt_nll(session, n_vocab, ids + first, n - first, cur, f);
    /* The greedy draft, from the prompt's last logits: deterministic, so
     * every path that scores the same tokens gets the same features. */
    mb_confidence_acc acc;
    mb_confidence_init(&acc, low_p);
    int nd = 0, repeats = 0;
    for (; !st && nd < room; nd++) {
        mb_token id = argmax(cur, n_vocab);
        if (mb_token_is_eog(model, id)) break;
        mb_confidence_add(&acc, cur, n_vocab, id);
        out[nd] = id;
        for (int j = 1; j < nd; j++)
            if (out[j - 1] == out[nd - 1] && out[j] == id) {
                repeats++;
                break;
            }
        if (draft && !append_piece(model, id, &b)) st = MB_ERR_NO_MEMORY;
        if (!st && nd + 1 < room && !(st = mb_session_eval(session, &id, 1)))
            memcpy(cur, mb_session_logits(session), (size_t)n_vocab * sizeof *cur);
    }
    free(cur);
    free(out);
    f->conf = mb_confidence_get(&acc);
    f->x[MB_FEAT_DRAFT_LOGPROB] = f->conf.mean_logprob;
    f->x[MB_FEAT_DRAFT_ENTROPY] = f->conf.mean_entropy;
    f->x[MB_FEAT_DRAFT_LOW] = f->conf.low_share;
    f->x[MB_FEAT_DRAFT_REPEAT] = nd > 1 ? (double)repeats / (nd - 1) : 0;
    f->x[MB_FEAT_LOG_LEN] = log1p((double)n);
    if (st || !draft) {
        free(b.text);
        return st;
    }
    *draft = b.text;
    if (draft_len) *draft_len = b.len;
    return MB_OK;
}

int mb_agent_features_json(const mb_agent_features *f, char *buf, size_t cap) {
    size_t k = 0;
    int w = snprintf(buf, cap, "{");
    k = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < MB_N_FEAT && k < cap; i++) {
        w = snprintf(buf + k, cap - k, "%s\"%s\":%.6g", i ? "," : "", mb_feature_names[i], f->x[i]);
        if (w > 0) k += (size_t)w;
    }
    if (k < cap) {
        w = snprintf(buf + k, cap - k, "}");
        if (w > 0) k += (size_t)w;
    }
    return (int)(k < cap ? k : cap ? cap - 1 : 0);
}
