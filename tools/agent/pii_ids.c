/* Identifiers that are no phone or card: national ID and record numbers
 * (by shape where the shape is distinctive, and any number after a label
 * such as "ID", "number", "no."), dates of birth (a date after a birth
 * cue), IP addresses, and secrets (API keys and tokens by their prefixes,
 * passwords after a label, credentials in URLs). docs/PRIVACY.md lists the
 * shapes, the labels and what is missed. */
#include <string.h>

#include "agent/pii_scan.h"

static bool boundary_before(const char *t, size_t i) {
    return i == 0 || !(pii_alnum((unsigned char)t[i - 1]) || (unsigned char)t[i - 1] >= 0x80);
}
static bool boundary_after(const char *t, size_t n, size_t j) {
    return j >= n || !(pii_alnum((unsigned char)t[j]) || (unsigned char)t[j] >= 0x80);
}

/* T[i..] matches PAT: 'd' a digit, 'A' an upper-case letter, 'x' a digit or
 * upper-case letter, '?' an optional space, other bytes themselves. The end,
 * or 0. */
static size_t shape(const char *t, size_t n, size_t i, const char *pat) {
    size_t j = i;
    for (const char *p = pat; *p; p++) {
        unsigned char c = j < n ? (unsigned char)t[j] : 0;
        if (*p == '?') {
            if (c == ' ') j++;
            continue;
        }
        bool ok = *p == 'd'   ? pii_digit(c)
                  : *p == 'A' ? pii_upper(c)
                  : *p == 'x' ? pii_digit(c) || pii_upper(c)
                              : c == (unsigned char)*p;
        if (!ok) return 0;
        j++;
    }
    return j;
}

/* ---- IDs by shape -------------------------------------------------------- */

/* The check letter of a Spanish DNI or NIE number V. */
static bool dni_letter_ok(long v, char letter) {
    static const char k_letters[] = "TRWAGMYFPDXBNJZSQVHLCKE";
    return k_letters[v % 23] == letter;
}

static long digits_value(const char *t, size_t i, int k) {
    long v = 0;
    for (int d = 0; d < k; d++)
        v = v * 10 + (t[i + (size_t)d] - '0');
    return v;
}

size_t pii_match_id_shape(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!boundary_before(t, i) || (i > 0 && strchr("-.+/", t[i - 1]))) return 0;
    /* Mid-run ("+34 612 345 678", "30 23 217 ..."): the run's start decides. */
    if (i > 1 && t[i - 1] == ' ' && pii_digit((unsigned char)t[i - 2])) return 0;
    static const char *const k_shapes[] = {
        "ddd-dd-dddd",           /* US SSN / ITIN */
        "ddd dd dddd",           /* US SSN, spaced */
        "dd-ddddddd",            /* US EIN */
        "AA?dd?dd?dd?A",         /* UK National Insurance number */
        "d dd dd xx ddd ddd dd", /* FR INSEE, spaced */
        "dd ddd ddd ddd",        /* DE Steuer-ID, grouped */
        "dd dddddd A ddd",       /* DE Sozialversicherungsnummer */
        "AAAAAAddAddAdddA",      /* IT codice fiscale */
        "AAAAAddddA",            /* IN PAN */
        "dddd dddd dddd",        /* IN Aadhaar */
        "dddd-dddd-dddd",        /* IN Aadhaar */
        "ddd.ddd.ddd-dd",        /* BR CPF */
        NULL,
    };
    for (const char *const *s = k_shapes; *s; s++) {
        size_t e = shape(t, n, i, *s);
        if (!e || !boundary_after(t, n, e)) continue;
        if (e < n && (t[e] == '-' || ((t[e] == '.' || t[e] == ',' || t[e] == ' ') && e + 1 < n &&
                                      pii_digit((unsigned char)t[e + 1]))))
            continue; /* part of a longer number */
        /* NI: the suffix letter is A to D (prefixes are not checked: HMRC's own
         * examples use the unissued "QQ"). */
        if ((*s)[0] == 'A' && (*s)[1] == 'A' && (*s)[2] == '?' && !strchr("ABCD", t[e - 1]))
            continue;
        if (!strcmp(*s, "dddd dddd dddd") && t[i] < '2') continue; /* Aadhaar starts 2-9 */
        return e;
    }
    /* ES DNI (8 digits and a check letter) and NIE (X/Y/Z, 7 digits, letter). */
    if (shape(t, n, i, "ddddddddA") && boundary_after(t, n, i + 9) &&
        dni_letter_ok(digits_value(t, i, 8), t[i + 8]))
        return i + 9;
    if (t[i] && strchr("XYZ", t[i]) && shape(t, n, i + 1, "dddddddA") &&
        boundary_after(t, n, i + 9) &&
        dni_letter_ok((t[i] - 'X') * 10000000L + digits_value(t, i + 1, 7), t[i + 8]))
        return i + 9;
    return 0;
}

/* ---- IDs after a label --------------------------------------------------- */

/* Words after which a number is an identifier ("account number 1234",
 * "MRN 0045", "Steuer-ID 65 929", "DNI es 1234"). Lower case; matched
 * ignoring case, as whole words. */
static const char *const k_id_labels[] = {
    "id",        "ids",       "number",    "no.",       "nr.",
    "n°",        "nº",        "no:",       "num",       "#",
    "ssn",       "sin",       "nino",      "itin",      "ein",
    "tin",       "tax id",    "vat",       "bsn",       "burgerservicenummer",
    "dni",       "nie",       "nif",       "pan",       "cpf",
    "aadhaar",   "passport",  "pasaporte", "passeport", "reisepass",
    "license",   "licence",   "mrn",       "account",   "acct",
    "policy",    "case",      "record",    "claim",     "patient",
    "employee",  "member",    "customer",  "client",    "cliente",
    "order",     "commande",  "invoice",   "ticket",    "tracking",
    "reference", "ref",       "routing",   "pin",       "cvv",
    "cvc",       "sort code", "steuer-id", "insee",     "fiscal",
    "fiscale",   "tessera",   "matricule", "student",   "badge",
    "numéro",    "numero",    "número",    "nummer",    NULL,
};

/* The labelled value at I: alphanumerics with inner '-', '/', '.', and
 * digit groups joined by single spaces ("30 23 217 600 053", "12 150385 M
 * 013"). Its end, and its digits in *DIGITS. */
static size_t id_value(const char *t, size_t n, size_t i, int *digits) {
    size_t j = i, end = i;
    *digits = 0;
    while (j < n && j - i < 40) {
        unsigned char c = (unsigned char)t[j];
        if (pii_alnum(c)) {
            *digits += pii_digit(c);
            end = ++j;
        } else if ((c == '-' || c == '/' || c == '.') && j + 1 < n &&
                   pii_alnum((unsigned char)t[j + 1])) {
            j++;
        } else if (c == ' ' && j + 1 < n && pii_digit((unsigned char)t[j - 1]) &&
                   (pii_digit((unsigned char)t[j + 1]) ||
                    (pii_upper((unsigned char)t[j + 1]) && j + 3 < n && t[j + 2] == ' ' &&
                     pii_digit((unsigned char)t[j + 3])))) {
            j++;
        } else {
            break;
        }
    }
    return end;
}

static bool label_at(const char *t, size_t n, size_t i, size_t *after) {
    if (!boundary_before(t, i) && t[i] != '#') return false;
    for (const char *const *l = k_id_labels; *l; l++) {
        size_t k = strlen(*l);
        if (!pii_eq(t, n, i, *l, true)) continue;
        unsigned char last = (unsigned char)(*l)[k - 1];
        if (pii_alnum(last) && !boundary_after(t, n, i + k)) continue;
        *after = i + k;
        return true;
    }
    /* A German or Dutch compound on -nummer ("Kundennummer", "Versichertennummer"). */
    size_t e = pii_word_end(t, n, i);
    if (e > i + 6 && pii_eq(t, n, e - 6, "nummer", true)) {
        *after = e;
        return true;
    }
    return false;
}

size_t pii_match_id_labelled(const char *t, size_t n, size_t i, size_t *start) {
    size_t j;
    if (!label_at(t, n, i, &j)) return 0;
    bool short_ok = pii_eq(t, n, i, "pin", true) || pii_eq(t, n, i, "cvv", true) ||
                    pii_eq(t, n, i, "cvc", true);
    /* Skip up to 40 bytes of words without digits ("number is", "de
     * sécurité sociale est", ":"), not past a sentence's end. */
    for (size_t lim = j + 40; j < n && j < lim;) {
        unsigned char c = (unsigned char)t[j];
        if (c == '\n' || c == '!' || c == '?' || c == ';' || c == ',' || c == '(' ||
            (c == '.' && (j + 1 >= n || t[j + 1] == ' ')))
            return 0;
        if (pii_alnum(c) && boundary_before(t, j)) {
            size_t e = pii_word_end(t, n, j);
            bool has_digit = false;
            for (size_t k = j; k < n && k < j + 40 &&
                               (pii_alnum((unsigned char)t[k]) || t[k] == '-' || t[k] == '/');
                 k++)
                has_digit |= pii_digit((unsigned char)t[k]);
            if (has_digit) {
                int digits;
                size_t v = id_value(t, n, j, &digits);
                if (digits >= (short_ok ? 3 : 4) && boundary_after(t, n, v)) {
                    *start = j;
                    return v;
                }
                return 0;
            }
            if (label_at(t, n, j, &e)) return 0; /* the next label decides */
            /* "invoice to 1600 ...", "order for 3": a preposition ends the label. */
            static const char *const k_stops[] = {"to",    "for",    "at",  "in", "on",
                                                  "from",  "with",   "and", "or", "than",
                                                  "after", "before", NULL};
            for (const char *const *w = k_stops; *w; w++)
                if (strlen(*w) == e - j && pii_eq(t, n, j, *w, true)) return 0;
            j = e > j ? e : j + 1;
            continue;
        }
        j++;
    }
    return 0;
}

/* ---- dates of birth ------------------------------------------------------ */

static const char *const k_birth_cues[] = {
    "date of birth",
    "birth date",
    "birthdate",
    "birthday",
    "born on",
    "born",
    "d.o.b.",
    "dob",
    "geburtsdatum",
    "geboren am",
    "geboren op",
    "geboren",
    "date de naissance",
    "née le",
    "né le",
    "nee le",
    "ne le",
    "fecha de nacimiento",
    "nacido el",
    "nacida el",
    "nato il",
    "nata il",
    "data di nascita",
    "geboortedatum",
    "data de nascimento",
    "nascido em",
    "nascida em",
    NULL,
};

/* A date at I: d[./-]d[./-]yy(yy), yyyy-mm-dd, "2 May 2016", "3 de marzo de
 * 1980", "June 12, 1956". Its end, or I. */
static size_t date_at(const char *t, size_t n, size_t i) {
    static const char *const k_num[] = {"dd/dd/dddd", "d/dd/dddd",  "dd/d/dddd", "d/d/dddd",
                                        "dd.dd.dddd", "d.dd.dddd",  "dd.d.dddd", "d.d.dddd",
                                        "dd-dd-dddd", "dddd-dd-dd", "dd/dd/dd",  "dd.dd.dd",
                                        NULL};
    for (const char *const *p = k_num; *p; p++) {
        size_t e = shape(t, n, i, *p);
        if (e && boundary_after(t, n, e)) return e;
    }
    size_t j = i;
    if (pii_digit((unsigned char)t[j])) { /* d(d) [de] Month [de] yyyy */
        while (j < n && j - i < 2 && pii_digit((unsigned char)t[j]))
            j++;
        if (j < n && t[j] == '.') j++;
        if (j >= n || t[j] != ' ') return i;
        j++;
        if (pii_eq(t, n, j, "de ", true)) j += 3;
        size_t e = pii_word_end(t, n, j);
        if (e < j + 3 || e > j + 12) return i;
        j = e;
        if (pii_eq(t, n, j, " de ", true)) j += 3;
        if (j >= n || t[j] != ' ') return i;
        size_t y = shape(t, n, j + 1, "dddd");
        return y && boundary_after(t, n, y) ? y : i;
    }
    size_t e = pii_word_end(t, n, j); /* Month d(d), yyyy */
    if (e < j + 3 || e > j + 10 || !pii_upper((unsigned char)t[j]) || e >= n || t[e] != ' ')
        return i;
    j = e + 1;
    size_t d = j;
    while (j < n && j - d < 2 && pii_digit((unsigned char)t[j]))
        j++;
    if (j == d) return i;
    if (j < n && t[j] == ',') j++;
    if (j >= n || t[j] != ' ') return i;
    size_t y = shape(t, n, j + 1, "dddd");
    return y && boundary_after(t, n, y) ? y : i;
}

size_t pii_match_dob(const char *t, size_t n, size_t i, size_t *start) {
    if (!boundary_before(t, i)) return 0;
    for (const char *const *c = k_birth_cues; *c; c++) {
        size_t k = strlen(*c);
        if (!pii_eq(t, n, i, *c, true) || !boundary_after(t, n, i + k)) continue;
        size_t j = i + k;
        for (int skip = 0; skip < 4 && j < n; skip++) { /* ": ", " on ", " am ", " le " */
            while (j < n && (t[j] == ' ' || t[j] == ':' || t[j] == ','))
                j++;
            static const char *const k_fill[] = {"on", "am", "le",  "el",  "il", "op",
                                                 "em", "is", "was", "the", NULL};
            size_t e = pii_word_end(t, n, j);
            bool filler = false;
            for (const char *const *f = k_fill; *f && e > j; f++)
                filler |= strlen(*f) == e - j && pii_eq(t, n, j, *f, true);
            if (!filler) break;
            j = e;
        }
        size_t e = j < n ? date_at(t, n, j) : j;
        if (e > j) {
            *start = j;
            return e;
        }
        return 0;
    }
    return 0;
}

/* ---- IP addresses -------------------------------------------------------- */

static bool hex(unsigned char c) {
    return pii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

size_t pii_match_ip(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!boundary_before(t, i) || (i > 0 && (t[i - 1] == '.' || t[i - 1] == ':'))) return 0;
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
    if (octets == 4 && boundary_after(t, n, j) &&
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
    if (!boundary_after(t, n, j) || dbl > 1 || colons < 2 || groups < 2) return 0;
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
    {"sk-", 16},         {"sk_live_", 10}, {"sk_test_", 10}, {"rk_live_", 10}, {"pk_live_", 10},
    {"ghp_", 20},        {"gho_", 20},     {"ghu_", 20},     {"ghs_", 20},     {"ghr_", 20},
    {"github_pat_", 20}, {"xoxb-", 10},    {"xoxp-", 10},    {"xoxa-", 10},    {"glpat-", 16},
    {"AIza", 30},        {"hf_", 24},      {"AKIA", 16},     {"ASIA", 16},     {"npm_", 30},
};

static const char *const k_secret_labels[] = {
    "password",   "passwort",     "passwd",        "pwd",
    "passphrase", "passcode",     "mot de passe",  "contraseña",
    "senha",      "secret",       "api key",       "api_key",
    "apikey",     "token",        "bearer",        "aws_secret_access_key",
    "secret_key", "access_token", "client_secret", NULL,
};

/* The value after a secret's label: one run of non-space bytes, less a
 * sentence's final '.', ',' or ')'. */
static size_t secret_value(const char *t, size_t n, size_t i, bool need_mixed) {
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
    if (j < i + 4) return 0;
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
    if (!boundary_before(t, i)) return 0;
    for (size_t k = 0; k < sizeof k_key_prefixes / sizeof *k_key_prefixes; k++) {
        size_t pl = strlen(k_key_prefixes[k].prefix);
        if (!pii_eq(t, n, i, k_key_prefixes[k].prefix, false)) continue;
        size_t j = i + pl;
        while (j < n && j - i < 256 && key_char((unsigned char)t[j]))
            j++;
        if ((int)(j - i - pl) >= k_key_prefixes[k].min_rest && boundary_after(t, n, j)) return j;
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
        if (!pii_eq(t, n, i, *l, true) || !boundary_after(t, n, i + k)) continue;
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
        (void)sep;
        size_t e = secret_value(t, n, j, true);
        if (e) {
            *start = j;
            return e;
        }
        return 0;
    }
    return 0;
}
