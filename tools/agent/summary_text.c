/* Text helpers of the summarizer: the word limit on the final output and
 * the grounding score (summarize.h). */
#include <stdlib.h>
#include <string.h>

#include "agent/summarize.h"

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void mb_summary_limiter_init(mb_summary_limiter *l, int words, mb_summary_emit_fn emit,
                             void *emit_user) {
    memset(l, 0, sizeof *l);
    l->words = words > 0 ? words : 1;
    l->emit = emit;
    l->emit_user = emit_user;
}

static void pass_on(mb_summary_limiter *l, size_t n) {
    if (n && l->emit && l->emit(l->emit_user, l->pending, n)) l->done = true;
}

/* The end of the first K words of the pending text (with no trailing space). */
static size_t first_words(const mb_summary_limiter *l, int k) {
    size_t i = 0;
    int seen = 0;
    while (i < l->n_pending) {
        while (i < l->n_pending && is_space(l->pending[i]))
            i++;
        if (i == l->n_pending || seen == k) break;
        while (i < l->n_pending && !is_space(l->pending[i]))
            i++;
        seen++;
    }
    while (i > 0 && is_space(l->pending[i - 1]))
        i--;
    return i;
}

/* The limit is reached inside the pending sentence: it is dropped, unless
 * nothing was passed on yet, then its first words are. */
static void overflow(mb_summary_limiter *l) {
    if (l->used == 0) {
        pass_on(l, first_words(l, l->words));
        l->used = l->words;
    }
    l->cut = l->done = true;
    l->n_pending = 0;
    l->pending_words = 0;
}

static bool sentence_end(const mb_summary_limiter *l) {
    size_t k = l->n_pending - 1; /* the space just added */
    if (l->pending[k] == '\n') return true;
    while (k > 0 &&
           (l->pending[k - 1] == '"' || l->pending[k - 1] == '\'' || l->pending[k - 1] == ')'))
        k--;
    return k > 0 && strchr(".!?", l->pending[k - 1]) != NULL;
}

int mb_summary_limiter_put(mb_summary_limiter *l, const char *piece, size_t len) {
    for (size_t i = 0; i < len && !l->done; i++) {
        if (l->n_pending + 2 > l->cap_pending) {
            size_t nc = l->cap_pending ? l->cap_pending * 2 : 256;
            char *g = realloc(l->pending, nc);
            if (!g) return l->failed = l->done = true, 1;
            l->pending = g, l->cap_pending = nc;
        }
        char c = piece[i];
        bool word_start =
            !is_space(c) && (l->n_pending == 0 || is_space(l->pending[l->n_pending - 1]));
        l->pending[l->n_pending++] = c;
        l->pending_words += word_start;
        /* Past the limit mid-sentence: no need to wait for its end. */
        if (word_start && l->used + l->pending_words > l->words) {
            l->n_pending--;
            overflow(l);
        } else if (is_space(c) && sentence_end(l)) {
            pass_on(l, l->n_pending);
            l->used += l->pending_words;
            l->n_pending = 0;
            l->pending_words = 0;
            if (l->used >= l->words) l->done = true;
        }
    }
    return l->done;
}

void mb_summary_limiter_finish(mb_summary_limiter *l) {
    if (!l->done && l->pending_words > 0) {
        size_t k = l->n_pending;
        while (k > 0 && (is_space(l->pending[k - 1]) || l->pending[k - 1] == '"' ||
                         l->pending[k - 1] == '\'' || l->pending[k - 1] == ')'))
            k--;
        /* A sentence the model did not finish (its answer ran out of
         * tokens) is dropped, unless it is all there is. */
        if (l->used == 0 || strchr(".!?", l->pending[k - 1])) {
            l->used += l->pending_words;
            pass_on(l, l->n_pending);
        } else {
            l->cut = true;
        }
    }
    free(l->pending);
    l->pending = NULL;
    l->n_pending = l->cap_pending = 0;
}

/* ---- grounding ------------------------------------------------------------ */

static bool word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || c == '\'' || c == '-';
}

static bool occurs(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return m == 0;
    for (size_t i = 0; i + m <= n; i++) {
        const char *p = memchr(hay + i, needle[0], n - m + 1 - i);
        if (!p) return false;
        i = (size_t)(p - hay);
        if (!memcmp(p, needle, m)) return true;
    }
    return false;
}

/* True when the word at I starts a sentence: nothing but spaces and quotes
 * between it and the text's start or a '.', '!' or '?'. */
static bool at_sentence_start(const char *s, size_t i) {
    while (i > 0 && (is_space(s[i - 1]) || s[i - 1] == '"' || s[i - 1] == '\''))
        i--;
    return i == 0 || strchr(".!?", s[i - 1]) != NULL;
}

double mb_summary_grounding(const char *source, size_t source_len, const char *summary,
                            size_t summary_len, int *n_entities, int *n_found) {
    int ents = 0, found = 0;
    size_t i = 0;
    while (i < summary_len) {
        unsigned char c = (unsigned char)summary[i];
        if (!word_byte(c) || (i > 0 && word_byte((unsigned char)summary[i - 1]))) {
            i++;
            continue;
        }
        size_t s = i, e = i;
        if (c >= '0' && c <= '9') {
            /* A number, with inner '.' or ',' between digits ("1,000", "3.5"). */
            while (e < summary_len &&
                   ((summary[e] >= '0' && summary[e] <= '9') ||
                    ((summary[e] == '.' || summary[e] == ',') && e + 1 < summary_len &&
                     summary[e + 1] >= '0' && summary[e + 1] <= '9')))
                e++;
        } else if (c >= 'A' && c <= 'Z') {
            /* Capitalized words joined by single spaces: "Mad Hatter". */
            size_t w = i;
            for (;;) {
                size_t we = w;
                while (we < summary_len && word_byte((unsigned char)summary[we]))
                    we++;
                if (we - w < 2 && w == s) break; /* "I", "A" */
                e = we;
                if (we + 1 < summary_len && summary[we] == ' ' && summary[we + 1] >= 'A' &&
                    summary[we + 1] <= 'Z')
                    w = we + 1;
                else
                    break;
            }
            if (e > s && at_sentence_start(summary, s)) {
                /* The first word is capitalized as any sentence's is. */
                while (s < e && summary[s] != ' ')
                    s++;
                while (s < e && summary[s] == ' ')
                    s++;
            }
        }
        if (e > s) {
            ents++;
            found += occurs(source, source_len, summary + s, e - s);
        }
        i = e > i ? e : i + 1;
        while (i < summary_len && word_byte((unsigned char)summary[i]))
            i++;
    }
    if (n_entities) *n_entities = ents;
    if (n_found) *n_found = found;
    return ents ? (double)found / ents : 1.0;
}
