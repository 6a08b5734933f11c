/* Pre-tokenizers, compiled with PCRE2 in UTF mode with Unicode properties
 * (\p{L} letters, \p{N} numbers, \s Unicode white space). The expressions
 * are the ones each model family's tokenizer.json uses, as adapted by
 * llama.cpp (case-insensitive contractions spelled out as '[sS] etc.), so
 * both engines cut text into the same words. Invalid UTF-8 is allowed in the
 * text (PCRE2_MATCH_INVALID_UTF): it never matches, so it lands between
 * matches and still reaches the byte-level merges unchanged. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/bpe_pre.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* GPT-2's expression: contractions, optionally space-led runs of letters,
 * of numbers, of other symbols, and white space not followed by a non-space
 * (so a space before a word stays with the word). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"

/* Llama 3 and Qwen2: case-insensitive contractions; a letter run may take
 * one leading non-letter, non-digit, non-newline character; numbers in
 * groups of up to three digits (Llama 3) or one digit (Qwen2); newlines
 * kept together with the white space before them. */
#define RE_LLAMA3_HEAD                                                                             \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
#define RE_LLAMA3_TAIL "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *name;
    const char *aliases[4];
    const char *exprs[4]; /* applied in order; NULL-terminated */
    bool ignore_merges, add_bos;
} pre_def;

static const pre_def k_pres[] = {
    /* What llama.cpp uses when a file names no pre-tokenizer. */
    {"default",
     {NULL},
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"},
     false,
     false},
    {"gpt-2", {"phi-2", NULL}, {RE_GPT2, NULL}, false, false},
    {"llama-bpe",
     {"llama3", "llama-v3", NULL},
     {RE_LLAMA3_HEAD "\\p{N}{1,3}" RE_LLAMA3_TAIL, NULL},
     true,
     true},
    /* Every digit alone first, then GPT-2's expression on what is left. */
    {"smollm", {"starcoder", NULL}, {"\\p{N}", RE_GPT2, NULL}, false, false},
    {"qwen2",
     {"deepseek-r1-qwen", NULL},
     {RE_LLAMA3_HEAD "\\p{N}" RE_LLAMA3_TAIL, NULL},
     false,
     false},
};
enum { N_PRES = sizeof k_pres / sizeof k_pres[0], MAX_EXPRS = 4 };

const char mb_bpe_pre_supported[] = "default, gpt-2, llama-bpe, smollm, qwen2";

struct mb_bpe_pre {
    const pre_def *def;
    pcre2_code *code[MAX_EXPRS];
    int n_code;
};

static bool name_is(const char *s, const char *name, size_t len) {
    return strlen(s) == len && (len == 0 || memcmp(s, name, len) == 0);
}

static const pre_def *find_def(const char *name, size_t len) {
    for (int i = 0; i < N_PRES; i++) {
        if (name_is(k_pres[i].name, name, len)) return &k_pres[i];
        for (int a = 0; k_pres[i].aliases[a]; a++)
            if (name_is(k_pres[i].aliases[a], name, len)) return &k_pres[i];
    }
    return NULL;
}

bool mb_bpe_pre_known(const char *name, size_t len, bool *default_add_bos) {
    const pre_def *d = find_def(name, len);
    if (d && default_add_bos) *default_add_bos = d->add_bos;
    return d != NULL;
}

void mb_bpe_pre_free(mb_bpe_pre *p) {
    if (!p) return;
    for (int i = 0; i < p->n_code; i++)
        pcre2_code_free(p->code[i]);
    free(p);
}

mb_status mb_bpe_pre_unknown(const char *name, size_t len, const char *source) {
    int shown = len > 64 ? 64 : (int)len;
    bool from_flag = strcmp(source, "--tokenizer-pre") == 0;
    return mb_errorf(
        MB_ERR_UNSUPPORTED, "%s: pre-tokenizer '%.*s' is not supported (supported: %s)%s", source,
        shown, name, mb_bpe_pre_supported, from_flag ? "" : "; --tokenizer-pre NAME chooses one");
}

mb_status mb_bpe_pre_new(const char *name, size_t len, const char *source, mb_bpe_pre **out) {
    *out = NULL;
    const pre_def *d = find_def(name, len);
    if (!d) return mb_bpe_pre_unknown(name, len, source);
    mb_bpe_pre *p = calloc(1, sizeof *p);
    if (!p) return mb_errorf(MB_ERR_NO_MEMORY, "pre-tokenizer '%s': no memory", d->name);
    p->def = d;
    for (int i = 0; i < MAX_EXPRS && d->exprs[i]; i++) {
        int err = 0;
        PCRE2_SIZE at = 0;
        pcre2_code *c =
            pcre2_compile((PCRE2_SPTR)d->exprs[i], PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &at, NULL);
        if (!c) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            mb_bpe_pre_free(p);
            return mb_errorf(MB_ERR_UNSUPPORTED,
                             "pre-tokenizer '%s': expression %d does not compile at offset %zu: "
                             "%s (is PCRE2 built with Unicode support?)",
                             d->name, i, (size_t)at, (const char *)msg);
        }
        /* JIT is an optimization only: without it the interpreter runs. */
        pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
        p->code[p->n_code++] = c;
    }
    *out = p;
    return MB_OK;
}

const char *mb_bpe_pre_name(const mb_bpe_pre *p) {
    return p->def->name;
}
bool mb_bpe_pre_ignore_merges(const mb_bpe_pre *p) {
    return p->def->ignore_merges;
}

typedef struct {
    mb_span *a;
    size_t n, cap;
} span_list;

static mb_status span_push(span_list *l, size_t off, size_t len) {
    if (len == 0) return MB_OK;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        mb_span *a = realloc(l->a, cap * sizeof *a);
        if (!a) return mb_errorf(MB_ERR_NO_MEMORY, "pre-tokenizer: no memory for %zu words", cap);
        l->a = a;
        l->cap = cap;
    }
    l->a[l->n++] = (mb_span){off, len};
    return MB_OK;
}

static mb_status match_failed(const mb_bpe_pre *p, int rc, size_t at) {
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return mb_errorf(MB_ERR_UNSUPPORTED, "pre-tokenizer '%s': matching failed at byte %zu: %s",
                     p->def->name, at, (const char *)msg);
}

/* The length of the UTF-8 sequence that starts with byte C (1 if invalid),
 * to step past an empty match. */
static size_t char_len(unsigned char c) {
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

/* Split the word W of TEXT by CODE into OUT: matches and the gaps between. */
static mb_status split_word(const mb_bpe_pre *p, const pcre2_code *code, pcre2_match_data *md,
                            const char *text, mb_span w, span_list *out) {
    const PCRE2_SPTR subject = (PCRE2_SPTR)(text + w.off);
    size_t pos = 0, gap = 0;
    mb_status st = MB_OK;
    while (pos < w.len && st == MB_OK) {
        int rc = pcre2_match(code, subject, w.len, pos, 0, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter has no such limit */
            rc = pcre2_match(code, subject, w.len, pos, PCRE2_NO_JIT, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return match_failed(p, rc, w.off + pos);
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t start = ov[0], end = ov[1];
        if (end <= start) { /* none of ours matches empty; never loop on one */
            pos = start + char_len(subject[start < w.len ? start : w.len - 1]);
            continue;
        }
        st = span_push(out, w.off + gap, start - gap);
        if (st == MB_OK) st = span_push(out, w.off + start, end - start);
        gap = pos = end;
    }
    if (st == MB_OK && gap < w.len) st = span_push(out, w.off + gap, w.len - gap);
    return st;
}

mb_status mb_bpe_pre_split(const mb_bpe_pre *p, const char *text, size_t len, mb_span **words,
                           size_t *cap, size_t *n_words) {
    *n_words = 0;
    if (len == 0) return MB_OK;
    span_list cur = {*words, 0, *cap}, next = {NULL, 0, 0};
    mb_status st = span_push(&cur, 0, len);
    pcre2_match_data *md = NULL;
    for (int i = 0; i < p->n_code && st == MB_OK; i++) {
        md = pcre2_match_data_create_from_pattern(p->code[i], NULL);
        if (!md) {
            st = mb_errorf(MB_ERR_NO_MEMORY, "pre-tokenizer: no memory");
            break;
        }
        next.n = 0;
        for (size_t k = 0; k < cur.n && st == MB_OK; k++)
            st = split_word(p, p->code[i], md, text, cur.a[k], &next);
        pcre2_match_data_free(md);
        md = NULL;
        span_list tmp = cur;
        cur = next;
        next = tmp;
    }
    free(next.a);
    *words = cur.a;
    *cap = cur.cap;
    *n_words = st == MB_OK ? cur.n : 0;
    return st;
}
