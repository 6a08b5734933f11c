/* The PII scan: e-mail addresses, card numbers, phone numbers and IBANs
 * here; street addresses in pii_places.c, names in pii_names.c. Every
 * matcher looks at most a constant number of bytes ahead of its start, and
 * the driver visits each byte once per matcher, so hostile input costs
 * linear time. */
#include "agent/pii_detect.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pii_scan.h"
#include "common/tool_error.h"

size_t pii_word_end(const char *t, size_t n, size_t i) {
    size_t j = i;
    while (j < n && j - i <= MB_PII_MAX_WORD) {
        unsigned char c = (unsigned char)t[j];
        if (pii_letter(c)) {
            j++;
        } else if ((c == '\'' || c == '-') && j > i && j + 1 < n &&
                   pii_letter((unsigned char)t[j + 1])) {
            j++;
        } else {
            break;
        }
    }
    if (j - i > MB_PII_MAX_WORD) return i;
    return j;
}

size_t pii_name_word(const char *t, size_t n, size_t i) {
    if (i >= n || !pii_upper((unsigned char)t[i])) return i;
    if (i + 1 < n && t[i + 1] == '.' && (i + 2 >= n || !pii_alnum((unsigned char)t[i + 2])))
        return i + 2; /* an initial */
    size_t e = pii_word_end(t, n, i);
    if (e < i + 2) return i;
    unsigned char c1 = (unsigned char)t[i + 1];
    /* "Anna" and "Émile"-like words, not acronyms ("USA", "IBAN"). */
    if (!pii_lower(c1) && c1 < 0x80 && c1 != '\'') return i;
    if (e < n && pii_digit((unsigned char)t[e])) return i;
    return e;
}

bool pii_eq(const char *t, size_t n, size_t i, const char *s, bool icase) {
    size_t k = strlen(s);
    if (i > n || n - i < k) return false;
    for (size_t j = 0; j < k; j++) {
        unsigned char a = (unsigned char)t[i + j], b = (unsigned char)s[j];
        if (icase) {
            if (pii_upper(a)) a = (unsigned char)(a - 'A' + 'a');
            if (pii_upper(b)) b = (unsigned char)(b - 'A' + 'a');
        }
        if (a != b) return false;
    }
    return true;
}

bool pii_in_list(const char *t, size_t i, size_t end, const char *const *list) {
    for (; *list; list++)
        if (strlen(*list) == end - i && !memcmp(t + i, *list, end - i)) return true;
    return false;
}

/* ---- e-mail ---------------------------------------------------------- */

static bool email_local(unsigned char c) {
    return pii_alnum(c) || (c && strchr("._%+-", c));
}

static size_t match_email(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!pii_alnum((unsigned char)t[i]) || (i > 0 && email_local((unsigned char)t[i - 1])))
        return 0;
    size_t j = i;
    while (j < n && j - i < 64 && email_local((unsigned char)t[j]))
        j++;
    if (j >= n || t[j] != '@' || j == i) return 0;
    size_t d = ++j, last_dot = 0;
    while (j < n && j - d < 253) {
        unsigned char c = (unsigned char)t[j];
        if (pii_alnum(c) || c == '-') {
            j++;
        } else if (c == '.' && j > d && t[j - 1] != '.' && j + 1 < n &&
                   pii_alnum((unsigned char)t[j + 1])) {
            last_dot = j++;
        } else {
            break;
        }
    }
    if (!last_dot || j - last_dot < 3) return 0; /* a top-level domain of 2+ letters */
    for (size_t k = last_dot + 1; k < j; k++)
        if (!pii_alpha((unsigned char)t[k])) return 0;
    return j;
}

/* ---- card and phone numbers ------------------------------------------ */

bool mb_pii_luhn_ok(const char *digits, size_t n) {
    unsigned sum = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned d = (unsigned)(digits[n - 1 - k] - '0');
        if (k & 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

typedef struct {
    char digits[24];
    int n_digits, n_groups, group_len[12];
    bool plus, parens, dots, other_seps, slash;
    size_t end;
} num_run;

/* Read a run of digit groups at I: an optional '+', groups of digits
 * joined by one space, dash or dot, and at most one parenthesized group
 * ("(555)", "(0)"). Returns false when it is too long to be a number we
 * redact (more than 19 digits or 11 groups): then nothing in it is. */
static bool read_num_run(const char *t, size_t n, size_t i, num_run *r) {
    memset(r, 0, sizeof *r);
    size_t j = i;
    if (t[j] == '+') r->plus = true, j++;
    bool open = false;
    for (;;) {
        if (j < n && t[j] == '(' && !r->parens) open = r->parens = true, j++;
        if (j >= n || !pii_digit((unsigned char)t[j])) return false;
        if (r->n_groups == 11) return false;
        int g = 0;
        while (j < n && pii_digit((unsigned char)t[j])) {
            if (r->n_digits == 19) return false;
            r->digits[r->n_digits++] = t[j++];
            g++;
        }
        r->group_len[r->n_groups++] = g;
        r->end = j;
        if (open) {
            if (j >= n || t[j] != ')') return false;
            open = false;
            r->end = ++j;
            if (j < n && pii_digit((unsigned char)t[j])) continue;
        }
        if (j + 1 >= n) break;
        /* "030 / 1234567": the German area code's slash, after a trunk 0. */
        if (r->n_groups == 1 && r->digits[0] == '0' && !r->plus && j + 2 < n &&
            (pii_eq(t, n, j, " / ", false) || t[j] == '/')) {
            size_t k = t[j] == '/' ? j + 1 : j + 3;
            if (k < n && pii_digit((unsigned char)t[k])) {
                r->slash = true;
                j = k;
                continue;
            }
        }
        char s = t[j];
        unsigned char next = (unsigned char)t[j + 1];
        if ((s == ' ' || s == '-' || s == '.') &&
            (pii_digit(next) || (next == '(' && !r->parens))) {
            if (s == '.') r->dots = true;
            j++;
            continue;
        }
        break;
    }
    return true;
}

static bool nanp_groups(const num_run *r) {
    const int *g = r->group_len;
    return (r->n_groups == 3 && g[0] == 3 && g[1] == 3 && g[2] == 4) ||
           (r->n_groups == 4 && g[0] == 1 && g[1] == 3 && g[2] == 3 && g[3] == 4);
}

/* Classify the run at I as a card (13-19 digits, spaces or dashes, Luhn),
 * an international phone number ("+" and 8-15 digits) or a national one
 * (10-11 digits in a trunk-prefix "0..." or North-American 3-3-4 layout or
 * with an area code in parentheses). Years, dates, prices and short
 * numbers have too few digits or a different shape. */
static size_t match_number(const char *t, size_t n, size_t i, mb_pii_kind kind) {
    unsigned char c = (unsigned char)t[i];
    if (!(pii_digit(c) || c == '+' || c == '(')) return 0;
    if (i > 0 && (pii_alnum((unsigned char)t[i - 1]) || strchr("+.,_/-", t[i - 1]))) return 0;
    /* Mid-run ("0044 0532"): the run that starts further left decides. */
    if (c != '+' && i > 1 && t[i - 1] == ' ' &&
        (pii_digit((unsigned char)t[i - 2]) || t[i - 2] == ')'))
        return 0;
    num_run r;
    if (!read_num_run(t, n, i, &r)) return 0;
    if (r.end < n) {
        unsigned char after = (unsigned char)t[r.end];
        if (pii_alnum(after) || after >= 0x80 || after == '@') return 0;
        /* "1,234" or "3.5": the run is part of a longer number. */
        if ((after == ',' || after == '.') && r.end + 1 < n &&
            pii_digit((unsigned char)t[r.end + 1]))
            return 0;
    }
    if (kind == MB_PII_CARD) {
        if (r.plus || r.parens || r.dots || r.slash || r.n_digits < 13) return 0;
        return mb_pii_luhn_ok(r.digits, (size_t)r.n_digits) ? r.end : 0;
    }
    if (r.plus) return r.n_digits >= 8 && r.n_digits <= 15 ? r.end : 0;
    /* German mobile numbers run to 12 digits with the trunk 0 ("0151 23456789"). */
    if (r.n_digits == 12 && r.digits[0] == '0' && r.n_groups <= 3) return r.end;
    if (r.n_digits < 10 || r.n_digits > 11) return 0;
    if (r.parens || r.digits[0] == '0' || nanp_groups(&r)) return r.end;
    return 0;
}

static size_t match_card(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    return match_number(t, n, i, MB_PII_CARD);
}

static size_t match_phone(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    return match_number(t, n, i, MB_PII_PHONE);
}

/* ---- IBAN -------------------------------------------------------------- */

/* Total IBAN lengths of the countries that use them most (ISO 13616 registry). */
static const struct {
    char cc[3];
    int len;
} k_iban_len[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BR", 29}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18},
    {"DO", 28}, {"EE", 20}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22},
    {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23},
    {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LI", 21}, {"LT", 20},
    {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31},
    {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29},
    {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VG", 24}, {"XK", 20},
};

/* ISO 7064 mod 97-10: the first four characters moved to the end, letters
 * read as 10..35, the whole number mod 97 must be 1. */
bool mb_pii_iban_ok(const char *s, size_t n) {
    if (n < 5) return false;
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[(k + 4) % n];
        if (pii_digit(c)) {
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        } else if (pii_upper(c)) {
            unsigned v = (unsigned)(c - 'A') + 10;
            rem = (rem * 100 + v) % 97;
        } else {
            return false;
        }
    }
    return rem == 1;
}

static size_t match_iban(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    /* Lower case too ("de89 3704 ..."): the check runs on the upper-cased text. */
    if (n - i < 15 || !pii_starts(t, i) || !pii_alpha((unsigned char)t[i]) ||
        !pii_alpha((unsigned char)t[i + 1]) || !pii_digit((unsigned char)t[i + 2]) ||
        !pii_digit((unsigned char)t[i + 3]))
        return 0;
    int len = 0;
    char c0 = (char)(t[i] & ~0x20), c1 = (char)(t[i + 1] & ~0x20);
    for (size_t k = 0; k < sizeof k_iban_len / sizeof *k_iban_len; k++)
        if (c0 == k_iban_len[k].cc[0] && c1 == k_iban_len[k].cc[1]) len = k_iban_len[k].len;
    if (!len) return 0;
    char s[40];
    int got = 0;
    size_t j = i;
    while (got < len && j < n) {
        unsigned char c = (unsigned char)t[j];
        if (pii_alpha(c) || pii_digit(c)) {
            s[got++] = (char)(pii_lower(c) ? c - 32 : c), j++;
        } else if (c == ' ' && j + 1 < n && got > 0 && (pii_alnum((unsigned char)t[j + 1]))) {
            j++;
        } else {
            break;
        }
    }
    if (got != len || (j < n && (pii_alnum((unsigned char)t[j]) || (unsigned char)t[j] >= 0x80)))
        return 0;
    return mb_pii_iban_ok(s, (size_t)len) ? j : 0;
}

/* ---- the driver -------------------------------------------------------- */

typedef size_t (*pii_matcher)(const char *t, size_t n, size_t i, size_t *start);

static const struct {
    pii_matcher fn;
    mb_pii_kind kind;
} k_matchers[] = {
    {pii_match_secret, MB_PII_SECRET},
    {match_email, MB_PII_EMAIL},
    {match_iban, MB_PII_IBAN},
    {match_card, MB_PII_CARD},
    {pii_match_ip, MB_PII_IP},
    {pii_match_id_shape, MB_PII_ID},
    {pii_match_dob, MB_PII_DOB},
    {match_phone, MB_PII_PHONE},
    {pii_match_address, MB_PII_ADDRESS},
    {pii_match_street_eu, MB_PII_ADDRESS},
    {pii_match_street_romance, MB_PII_ADDRESS},
    {pii_match_postcode_uk, MB_PII_ADDRESS},
    {pii_match_po_box, MB_PII_ADDRESS},
    {pii_match_id_labelled, MB_PII_ID},
    {pii_match_name_kin, MB_PII_NAME},
    {pii_match_name_cue, MB_PII_NAME},
    {pii_match_signature, MB_PII_NAME},
    {pii_match_name_listed, MB_PII_NAME},
};

static int span_cmp(const void *a, const void *b) {
    const mb_pii_span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

mb_status mb_pii_find(const char *text, size_t len, mb_pii_span **spans, size_t *n_spans) {
    *spans = NULL;
    *n_spans = 0;
    if (!text || !len) return MB_OK;
    uint8_t *taken = calloc(len, 1);
    if (!taken)
        return tool_errorf(MB_ERR_NO_MEMORY, "redaction: no memory for a %zu-byte text", len);
    mb_pii_span *out = NULL;
    size_t n = 0, cap = 0;
    for (size_t m = 0; m < sizeof k_matchers / sizeof *k_matchers; m++) {
        for (size_t i = 0; i < len; i++) {
            if (taken[i]) continue;
            size_t s = i, e = k_matchers[m].fn(text, len, i, &s);
            if (e <= s || e > len) continue;
            if (memchr(taken + s, 1, e - s)) continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                mb_pii_span *grown = realloc(out, nc * sizeof *out);
                if (!grown) {
                    free(out);
                    free(taken);
                    return tool_errorf(MB_ERR_NO_MEMORY, "redaction: no memory for %zu spans", nc);
                }
                out = grown, cap = nc;
            }
            out[n++] = (mb_pii_span){s, e, k_matchers[m].kind};
            memset(taken + s, 1, e - s);
            i = e - 1;
        }
    }
    free(taken);
    if (n > 1) qsort(out, n, sizeof *out, span_cmp);
    *spans = out;
    *n_spans = n;
    return MB_OK;
}
