/* IP addresses and secrets: IPv4 and IPv6 by shape; API keys and tokens by
 * their prefixes, JWTs, passwords after a label, credentials in URLs
 * (docs/PRIVACY.md). */
#include <string.h>

#include "agent/pii_scan.h"

/* ---- IP addresses -------------------------------------------------------- */

static bool hex(unsigned char c) {
    return pii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

size_t pii_match_ip(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!pii_boundary_before(t, i) || (i > 0 && (t[i - 1] == '.' || t[i - 1] == ':'))) return 0;
    size_t j = i;
    int octets = 0;
    while (octets < 4) { /* IPv4: four octets of at most 255 */
        size_t s = j;
        int v = 0;
        while (j < n && j - s < 3 && pii_digit((unsigned char)t[j]))
            v = v * 10 + (t[j++] - '0');
        if (j == s || v > 255 || (j < n && pii_digit((unsigned char)t[j]))) break;
        if (++octets == 4) break;
        if (j + 1 >= n || t[j] != '.' || !pii_digit((unsigned char)t[j + 1])) break;
        j++;
    }
    if (octets == 4 && pii_boundary_after(t, n, j) &&
        !(j + 1 < n && t[j] == '.' && pii_digit((unsigned char)t[j + 1])))
        return j;
    /* IPv6: hex groups of at most 4, colons, with "::" or eight groups. */
    j = i;
    int colons = 0, groups = 0, dbl = 0, g = 0;
    while (j < n && (hex((unsigned char)t[j]) || t[j] == ':') && j - i < 45) {
        if (t[j] == ':') {
            if (j + 1 < n && t[j + 1] == ':') dbl++, colons++, j++;
            colons++;
            if (g) groups++;
            g = 0;
        } else if (++g > 4) {
            return 0;
        }
        j++;
    }
    if (g) groups++;
    while (j > i && t[j - 1] == ':' && !(j >= 2 && t[j - 2] == ':'))
        j--, colons--;
    if (!pii_boundary_after(t, n, j) || dbl > 1 || colons < 2 || groups < 2) return 0;
    return (dbl == 1 || colons == 7) ? j : 0;
}

/* ---- secrets ------------------------------------------------------------- */

static bool key_char(unsigned char c) {
    return pii_alnum(c) || c == '_' || c == '-';
}

/* Prefixes of API keys and tokens, and the least length of the rest. */
static const struct {
    const char *prefix;
    int min_rest;
} k_key_prefixes[] = {
    {"sk-", 16},         {"sk_live_", 10},
    {"sk_test_", 10},    {"rk_live_", 10},
    {"pk_live_", 10},    {"ghp_", 20},
    {"gho_", 20},        {"ghu_", 20},
    {"ghs_", 20},        {"ghr_", 20},
    {"github_pat_", 20}, {"xoxb-", 10},
    {"xoxp-", 10},       {"xoxa-", 10},
    {"glpat-", 16},      {"AIza", 30},
    {"hf_", 24},         {"AKIA", 16},
    {"ASIA", 16},        {"npm_", 30},
    {"pk_test_", 10},    {"rk_test_", 10},
    {"ya29.", 16},       {"glsa_", 16},
    {"shpat_", 16},      {"hooks.slack.com/services/", 20},
};

static const char *const k_secret_labels[] = {
    "password",   "passwort",     "passwd",        "pwd",
    "passphrase", "passcode",     "mot de passe",  "contraseña",
    "senha",      "secret",       "api key",       "api_key",
    "apikey",     "token",        "bearer",        "aws_secret_access_key",
    "secret_key", "access_token", "client_secret", "pw",
    "pass",       "mdp",          "kennwort",      "wachtwoord",
    NULL,
};

/* The value after a secret's label: one run of non-space bytes, less a
 * sentence's final '.', ',' or ')'. */
static size_t secret_value(const char *t, size_t n, size_t i, bool need_mixed, size_t min_len) {
    size_t j = i;
    bool digit = false, other = false, upper = false;
    while (j < n && j - i < 200 && t[j] != ' ' && t[j] != '\n' && t[j] != '\t' && t[j] != '\r') {
        unsigned char c = (unsigned char)t[j];
        digit |= pii_digit(c);
        upper |= j > i && pii_upper(c);
        other |= !pii_alnum(c) && c < 0x80;
        j++;
    }
    while (j > i && (t[j - 1] == '.' || t[j - 1] == ',' || t[j - 1] == ')' || t[j - 1] == '"'))
        j--;
    if (j < i + min_len) return 0;
    if (need_mixed && !digit && !other && !upper) return 0; /* "password is required" */
    return j;
}

size_t pii_match_secret(const char *t, size_t n, size_t i, size_t *start) {
    /* Credentials in a URL: scheme://user:PASSWORD@host. */
    if (pii_eq(t, n, i, "://", false)) {
        size_t j = i + 3, u = j;
        while (j < n && j - u < 64 && (key_char((unsigned char)t[j]) || t[j] == '.'))
            j++;
        if (j == u || j >= n || t[j] != ':') return 0;
        size_t p = ++j;
        while (j < n && j - p < 128 && t[j] != '@' && t[j] != '/' && t[j] != ' ')
            j++;
        if (j == p || j >= n || t[j] != '@') return 0;
        *start = p;
        return j;
    }
    if (!pii_boundary_before(t, i)) return 0;
    for (size_t k = 0; k < sizeof k_key_prefixes / sizeof *k_key_prefixes; k++) {
        size_t pl = strlen(k_key_prefixes[k].prefix);
        if (!pii_eq(t, n, i, k_key_prefixes[k].prefix, false)) continue;
        size_t j = i + pl;
        /* A webhook's path and an OAuth token's dots belong to the secret. */
        while (j < n && j - i < 256 &&
               (key_char((unsigned char)t[j]) ||
                ((t[j] == '/' || t[j] == '.') && j + 1 < n && key_char((unsigned char)t[j + 1]) &&
                 (k_key_prefixes[k].prefix[pl - 1] == '/' ||
                  k_key_prefixes[k].prefix[pl - 1] == '.'))))
            j++;
        if ((int)(j - i - pl) >= k_key_prefixes[k].min_rest && pii_boundary_after(t, n, j))
            return j;
    }
    if (pii_eq(t, n, i, "eyJ", false)) { /* a JWT: three base64url parts */
        size_t j = i;
        int dots = 0;
        while (j < n && j - i < 4096 && (key_char((unsigned char)t[j]) || t[j] == '.')) {
            if (t[j] == '.') dots++;
            j++;
        }
        while (j > i && t[j - 1] == '.')
            j--, dots--;
        if (dots == 2 && j - i >= 24) return j;
    }
    for (const char *const *l = k_secret_labels; *l; l++) {
        size_t k = strlen(*l);
        if (!pii_eq(t, n, i, *l, true) || !pii_boundary_after(t, n, i + k)) continue;
        size_t j = i + k;
        bool sep = false;
        for (int skip = 0; skip < 3 && j < n; skip++) {
            while (j < n && (t[j] == ' ' || t[j] == ':' || t[j] == '=')) {
                sep |= t[j] != ' ';
                j++;
            }
            static const char *const k_fill[] = {"is", "was", "lautet", "ist", "est",
                                                 "es", "é",   "è",      "to",  NULL};
            size_t e = j;
            while (e < n && t[e] != ' ' && e - j < 8)
                e++;
            bool filler = false;
            for (const char *const *f = k_fill; *f; f++)
                filler |= strlen(*f) == e - j && pii_eq(t, n, j, *f, true);
            if (!filler) break;
            sep = true;
            j = e;
        }
        /* After "password:" or "pass =" anything is the secret; after "password
         * is" or no separator, only what looks like one ("password is required"). */
        bool colon = false;
        for (size_t b = i + k; b < j; b++)
            colon |= t[b] == ':' || t[b] == '=';
        (void)sep;
        size_t e = secret_value(t, n, j, !colon, colon ? 3 : 4);
        if (e) {
            *start = j;
            return e;
        }
        return 0;
    }
    return 0;
}
