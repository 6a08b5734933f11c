/* Identifiers that are no phone or card: national ID and record numbers
 * (by shape where the shape is distinctive, and any number after a label
 * such as "ID", "number", "no."), and dates of birth (a date after a birth
 * cue). docs/PRIVACY.md lists the shapes, the labels and what is missed. */
#include <string.h>

#include "agent/pii_scan.h"

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
    if (!pii_boundary_before(t, i) || (i > 0 && strchr("-.+/", t[i - 1]))) return 0;
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
        "dd.dd.dd-ddd.dd",       /* BE national register number */
        "756.dddd.dddd.dd",      /* CH AHV number */
        "dddddddd-dddd",         /* SE personnummer, 12 digits */
        "dddddd-dddd",           /* SE personnummer, DK CPR */
        "dddddd-dddx",           /* FI henkilötunnus */
        "ddddddAdddx",           /* FI henkilötunnus, 2000s */
        "AAAAddddddAAAAAAxd",    /* MX CURP */
        "dddddddddddddddddx",    /* CN resident ID */
        NULL,
    };
    for (const char *const *s = k_shapes; *s; s++) {
        size_t e = shape(t, n, i, *s);
        if (!e || !pii_boundary_after(t, n, e)) continue;
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
    if (shape(t, n, i, "ddddddddA") && pii_boundary_after(t, n, i + 9) &&
        dni_letter_ok(digits_value(t, i, 8), t[i + 8]))
        return i + 9;
    if (t[i] && strchr("XYZ", t[i]) && shape(t, n, i + 1, "dddddddA") &&
        pii_boundary_after(t, n, i + 9) &&
        dni_letter_ok((t[i] - 'X') * 10000000L + digits_value(t, i + 1, 7), t[i + 8]))
        return i + 9;
    return 0;
}

/* ---- IDs after a label --------------------------------------------------- */

/* Words after which a number is an identifier ("account number 1234",
 * "MRN 0045", "Steuer-ID 65 929", "DNI es 1234"). Lower case; matched
 * ignoring case, as whole words. */
static const char *const k_id_labels[] = {
    "id",
    "ids",
    "number",
    "no.",
    "nr.",
    "n°",
    "nº",
    "no:",
    "num",
    "#",
    "ssn",
    "sin",
    "nino",
    "itin",
    "ein",
    "tin",
    "tax id",
    "vat",
    "bsn",
    "burgerservicenummer",
    "dni",
    "nie",
    "nif",
    "pan",
    "cpf",
    "aadhaar",
    "passport",
    "pasaporte",
    "passeport",
    "reisepass",
    "license",
    "licence",
    "mrn",
    "account",
    "acct",
    "policy",
    "case",
    "record",
    "claim",
    "patient",
    "employee",
    "member",
    "customer",
    "client",
    "cliente",
    "order",
    "commande",
    "invoice",
    "ticket",
    "tracking",
    "reference",
    "ref",
    "routing",
    "pin",
    "cvv",
    "cvc",
    "sort code",
    "steuer-id",
    "insee",
    "fiscal",
    "fiscale",
    "tessera",
    "matricule",
    "student",
    "badge",
    "numéro",
    "numero",
    "número",
    "nummer",
    "pesel",
    "tfn",
    "curp",
    "cpr",
    "hetu",
    "henkilötunnus",
    "personnummer",
    "fødselsnummer",
    "nhs",
    "medicare",
    "medicaid",
    "social",
    "staff",
    "ahv",
    "snils",
    "nss",
    "rfc",
    "n.",
    "マイナンバー",
    "身份证",
    "身份证号",
    "identità",
    "identidad",
    "identité",
    NULL,
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
    if (!pii_boundary_before(t, i) && t[i] != '#') return false;
    for (const char *const *l = k_id_labels; *l; l++) {
        size_t k = strlen(*l);
        if (!pii_eq(t, n, i, *l, true)) continue;
        unsigned char last = (unsigned char)(*l)[k - 1];
        if (pii_alnum(last) && !pii_boundary_after(t, n, i + k)) continue;
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
        if (pii_alnum(c) && pii_boundary_before(t, j)) {
            size_t e = pii_word_end(t, n, j);
            bool has_digit = false;
            for (size_t k = j; k < n && k < j + 40 &&
                               (pii_alnum((unsigned char)t[k]) || t[k] == '-' || t[k] == '/');
                 k++)
                has_digit |= pii_digit((unsigned char)t[k]);
            if (has_digit) {
                int digits;
                size_t v = id_value(t, n, j, &digits);
                if (digits >= (short_ok ? 3 : 4) && pii_boundary_after(t, n, v)) {
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
    "b.",
    "geb.",
    "f. nac.",
    "fecha nac.",
    "né(e) le",
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
        if (e && pii_boundary_after(t, n, e)) return e;
    }
    size_t j = i;
    if (pii_digit((unsigned char)t[j])) { /* d(d) [de] Month [de] yyyy */
        while (j < n && j - i < 2 && pii_digit((unsigned char)t[j]))
            j++;
        /* An ordinal day: "3rd", "21st of", "1er", "1º". */
        static const char *const k_ord[] = {"st", "nd", "rd", "th", "er", "e", "º", "°", NULL};
        for (const char *const *o = k_ord; *o; o++)
            if (pii_eq(t, n, j, *o, false) &&
                (j + strlen(*o) >= n || !pii_alpha((unsigned char)t[j + strlen(*o)]))) {
                j += strlen(*o);
                break;
            }
        if (j < n && t[j] == '.') j++;
        if (j >= n || t[j] != ' ') return i;
        j++;
        if (pii_eq(t, n, j, "de ", true) || pii_eq(t, n, j, "of ", true)) j += 3;
        size_t e = pii_word_end(t, n, j);
        if (e < j + 3 || e > j + 12) return i;
        j = e;
        if (pii_eq(t, n, j, " de ", true)) j += 3;
        if (j >= n || t[j] != ' ') return i;
        size_t y = shape(t, n, j + 1, "dddd");
        return y && pii_boundary_after(t, n, y) ? y : i;
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
    return y && pii_boundary_after(t, n, y) ? y : i;
}

size_t pii_match_dob(const char *t, size_t n, size_t i, size_t *start) {
    if (!pii_boundary_before(t, i)) return 0;
    for (const char *const *c = k_birth_cues; *c; c++) {
        size_t k = strlen(*c);
        if (!pii_eq(t, n, i, *c, true) || !pii_boundary_after(t, n, i + k)) continue;
        size_t j = i + k;
        for (int skip = 0; skip < 4 && j < n; skip++) { /* ": ", " on ", " am ", " le " */
            while (j < n && (t[j] == ' ' || t[j] == ':' || t[j] == ',' || t[j] == '-'))
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
