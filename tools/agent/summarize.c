/* Map-reduce summarization: the splitting and the recursion (summarize.h).
 * Memory holds the current level's text, the next level's and the chunk
 * list, so it is bounded by a small multiple of the input; each partial
 * summary is capped at its chunk's length, and a level that does not
 * shrink has its partial summaries cut to half, so the levels end. */
#include "agent/summarize.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tool_error.h"

/* ---- splitting ----------------------------------------------------------- */

typedef struct {
    mb_summary_chunk *v;
    size_t n, cap;
} chunk_vec;

static mb_status push(chunk_vec *c, size_t s, size_t e, int t) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        mb_summary_chunk *g = realloc(c->v, nc * sizeof *g);
        if (!g) return tool_errorf(MB_ERR_NO_MEMORY, "summarize: no memory for %zu chunks", nc);
        c->v = g, c->cap = nc;
    }
    c->v[c->n++] = (mb_summary_chunk){s, e, t};
    return MB_OK;
}

typedef struct {
    const char *t;
    int budget;
    mb_summary_count_fn count;
    void *user;
} splitter;

static mb_status count(const splitter *sp, size_t s, size_t e, int *n) {
    *n = 0;
    mb_status st = sp->count(sp->user, sp->t + s, e - s, n);
    if (st == MB_OK && *n < 0)
        st = tool_errorf(MB_ERR_INVALID_ARG, "summarize: negative token count");
    return st;
}

static bool space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The end of the piece starting at I at split level LEVEL: 0 after a blank
 * line, 1 after a sentence's end mark and the spaces after it, 2 after a
 * word and its spaces. */
static size_t piece_end(const char *t, size_t i, size_t e, int level) {
    size_t j = i;
    while (j < e) {
        char c = t[j++];
        bool cut = false;
        if (level == 0 && c == '\n') {
            size_t k = j;
            while (k < e && (t[k] == ' ' || t[k] == '\t' || t[k] == '\r'))
                k++;
            cut = k < e && t[k] == '\n';
        } else if (level == 1 && (c == '.' || c == '!' || c == '?')) {
            while (j < e && (t[j] == '"' || t[j] == '\'' || t[j] == ')'))
                j++;
            cut = j < e && space(t[j]);
        } else if (level == 2 && space(c)) {
            cut = true, j--;
        }
        if (cut) {
            while (j < e && space(t[j]))
                j++;
            return j;
        }
    }
    return e;
}

/* Bytes [s, e) as units of at most the budget: whole when they fit, else
 * split at the next finer level; bytes last, at UTF-8 character starts. */
static mb_status units(const splitter *sp, size_t s, size_t e, int level, chunk_vec *out) {
    while (s < e) {
        size_t pe = level < 3 ? piece_end(sp->t, s, e, level) : e;
        int n;
        mb_status st = count(sp, s, pe, &n);
        if (st != MB_OK) return st;
        if (n <= sp->budget) {
            st = push(out, s, pe, n);
        } else if (level < 3) {
            st = units(sp, s, pe, level + 1, out);
        } else {
            /* A run with no boundary: halve until the bytes fit. */
            size_t k = pe - s;
            for (;;) {
                k = k / 2 > 0 ? k / 2 : 1;
                size_t ce = s + k;
                while (ce < pe && ((unsigned char)sp->t[ce] & 0xC0) == 0x80)
                    ce++;
                if ((st = count(sp, s, ce, &n)) != MB_OK) return st;
                if (n <= sp->budget || k == 1) {
                    if (n > sp->budget)
                        return tool_errorf(MB_ERR_INVALID_ARG,
                                         "summarize: one character is %d tokens, over the "
                                         "budget of %d",
                                         n, sp->budget);
                    pe = ce;
                    break;
                }
            }
            st = push(out, s, pe, n);
        }
        if (st != MB_OK) return st;
        s = pe;
    }
    return MB_OK;
}

mb_status mb_summary_split(const char *text, size_t len, int budget, mb_summary_count_fn cnt,
                           void *user, mb_summary_chunk **chunks, size_t *n_chunks) {
    *chunks = NULL;
    *n_chunks = 0;
    if (budget < 1 || !cnt || (!text && len))
        return tool_errorf(MB_ERR_INVALID_ARG, "summarize: bad split arguments (budget %d)", budget);
    splitter sp = {text, budget, cnt, user};
    chunk_vec u = {0}, c = {0};
    mb_status st = units(&sp, 0, len, 0, &u);
    /* Pack units greedily; the sum of the units' counts is only an estimate
     * of the joined text's, so each chunk is counted whole and shortened by
     * units until it fits (a single unit always does). */
    size_t a = 0;
    while (st == MB_OK && a < u.n) {
        size_t b = a + 1;
        long sum = u.v[a].n_tokens;
        while (b < u.n && sum + u.v[b].n_tokens <= budget)
            sum += u.v[b++].n_tokens;
        int real = u.v[a].n_tokens;
        if (b > a + 1) st = count(&sp, u.v[a].start, u.v[b - 1].end, &real);
        while (st == MB_OK && real > budget && b > a + 1) {
            b--;
            if (b == a + 1)
                real = u.v[a].n_tokens;
            else
                st = count(&sp, u.v[a].start, u.v[b - 1].end, &real);
        }
        if (st == MB_OK) st = push(&c, u.v[a].start, u.v[b - 1].end, real);
        a = b;
    }
    free(u.v);
    if (st != MB_OK) {
        free(c.v);
        return st;
    }
    *chunks = c.v;
    *n_chunks = c.n;
    return MB_OK;
}

/* ---- the recursion ----------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap, limit; /* LIMIT: stop taking output past it */
    bool failed;
} buf;

static bool buf_put(buf *b, const char *s, size_t n) {
    if (b->failed) return false;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) {
            if (nc > SIZE_MAX / 2) return b->failed = true, false;
            nc *= 2;
        }
        char *g = realloc(b->p, nc);
        if (!g) return b->failed = true, false;
        b->p = g, b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

/* A map call's output: kept up to the buffer's limit, then stopped. */
static int take_partial(void *ctx, const char *piece, size_t len) {
    buf *b = ctx;
    size_t room = b->limit > b->n ? b->limit - b->n : 0;
    if (len > room) {
        while (room > 0 && ((unsigned char)piece[room] & 0xC0) == 0x80)
            room--; /* whole characters only */
        buf_put(b, piece, room);
        return 1;
    }
    return !buf_put(b, piece, len) || b->n >= b->limit;
}

typedef struct {
    buf *result;
    const mb_summary_params *p;
} result_sink;

static int take_result(void *ctx, const char *piece, size_t len) {
    result_sink *rs = ctx;
    if (!buf_put(rs->result, piece, len)) return 1;
    return rs->p->on_result ? rs->p->on_result(rs->p->result_user, piece, len) : 0;
}

static int limit_put(void *ctx, const char *piece, size_t len) {
    return mb_summary_limiter_put(ctx, piece, len);
}

/* Cut S[0..n) to at most MAX bytes at the last space (or character start). */
static size_t cut_at_word(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    size_t k = max;
    while (k > 0 && !space(s[k]))
        k--;
    if (k == 0) {
        k = max;
        while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
            k--;
    }
    return k;
}

static void note(const mb_summary_params *p, const char *fmt, int a, long b, long c) {
    char msg[160];
    snprintf(msg, sizeof msg, fmt, a, b, c);
    if (p->on_note) p->on_note(p->user, msg);
}

/* One map level: summarize each chunk of CUR into NEXT, joined by blank
 * lines; when the result is no shorter in tokens than CUR (CUR_TOKENS),
 * cut each partial to half its chunk and say so. */
static mb_status map_level(const mb_summary_params *p, int level, const char *cur,
                           const mb_summary_chunk *ch, size_t n_ch, long cur_tokens, buf *next,
                           mb_summary_stats *stats) {
    size_t *ends = malloc(n_ch * 2 * sizeof *ends); /* partial i: [ends[2i], ends[2i+1]) */
    if (!ends) return tool_errorf(MB_ERR_NO_MEMORY, "summarize: out of memory");
    mb_status st = MB_OK;
    next->n = 0;
    for (size_t i = 0; i < n_ch && st == MB_OK; i++) {
        if (i > 0) buf_put(next, "\n\n", 2);
        ends[2 * i] = next->n;
        next->limit = next->n + (ch[i].end - ch[i].start);
        mb_summary_call call = {level, (int)i + 1, (int)n_ch, false, p->words};
        st = p->summarize(p->user, &call, cur + ch[i].start, ch[i].end - ch[i].start, take_partial,
                          next);
        ends[2 * i + 1] = next->n;
        stats->calls++;
        if (next->failed) st = tool_errorf(MB_ERR_NO_MEMORY, "summarize: out of memory");
    }
    int next_tokens = 0;
    if (st == MB_OK) st = p->count(p->user, next->p ? next->p : "", next->n, &next_tokens);
    if (st == MB_OK && next_tokens >= cur_tokens) {
        note(p, "level %d did not shrink (%ld -> %ld tokens): partial summaries cut to half", level,
             cur_tokens, (long)next_tokens);
        stats->forced++;
        size_t w = 0;
        for (size_t i = 0; i < n_ch; i++) {
            size_t s = ends[2 * i], len = ends[2 * i + 1] - s;
            size_t keep = cut_at_word(next->p + s, len, (ch[i].end - ch[i].start) / 2);
            if (i > 0) memmove(next->p + w, "\n\n", 2), w += 2;
            memmove(next->p + w, next->p + s, keep);
            w += keep;
        }
        next->n = w;
        if (next->p) next->p[w] = '\0';
    }
    free(ends);
    return st;
}

mb_status mb_summarize(const mb_summary_params *p, const char *text, size_t len, char **out,
                       size_t *out_len, mb_summary_stats *stats) {
    *out = NULL;
    mb_summary_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!p || !p->count || !p->summarize || p->chunk_tokens < 1 || p->words < 1 || (!text && len))
        return tool_errorf(MB_ERR_INVALID_ARG, "summarize: bad parameters");
    int max_levels = p->max_levels > 0 ? p->max_levels : 24;
    buf a = {0}, b = {0}, result = {0};
    if (!buf_put(&a, text ? text : "", len))
        return tool_errorf(MB_ERR_NO_MEMORY, "summarize: no memory for %zu bytes", len);
    buf *cur = &a, *next = &b;
    mb_status st = MB_OK;
    for (int level = 1;; level++) {
        int t = 0;
        if ((st = p->count(p->user, cur->p, cur->n, &t)) != MB_OK) break;
        mb_summary_chunk *ch = NULL;
        size_t n_ch = 0;
        if (t > p->chunk_tokens) {
            st = mb_summary_split(cur->p, cur->n, p->chunk_tokens, p->count, p->user, &ch, &n_ch);
            if (st != MB_OK) break;
        }
        if (t > p->chunk_tokens && (level > max_levels || n_ch < 2)) {
            note(p, "level %d: still %ld tokens after %ld levels; keeping the first chunk only",
                 level, (long)t, (long)max_levels);
            stats->forced++;
            cur->n = n_ch ? ch[0].end : 0;
            cur->p[cur->n] = '\0';
            t = 0;
        }
        if (t <= p->chunk_tokens) {
            free(ch);
            mb_summary_limiter lim;
            result_sink rs = {&result, p};
            mb_summary_limiter_init(&lim, p->words, take_result, &rs);
            mb_summary_call call = {level, 1, 1, true, p->words};
            st = p->summarize(p->user, &call, cur->p, cur->n, limit_put, &lim);
            mb_summary_limiter_finish(&lim);
            stats->calls++;
            stats->result_words = lim.used;
            stats->cut = lim.cut;
            if (st == MB_OK && (lim.failed || result.failed))
                st = tool_errorf(MB_ERR_NO_MEMORY, "summarize: out of memory");
            break;
        }
        stats->levels = level;
        st = map_level(p, level, cur->p, ch, n_ch, t, next, stats);
        free(ch);
        if (st != MB_OK) break;
        buf *tmp = cur;
        cur = next, next = tmp;
    }
    free(a.p);
    free(b.p);
    if (st != MB_OK) {
        free(result.p);
        return st;
    }
    if (!result.p && !buf_put(&result, "", 0))
        return tool_errorf(MB_ERR_NO_MEMORY, "summarize: out of memory");
    *out = result.p;
    if (out_len) *out_len = result.n;
    return MB_OK;
}
