/* Street addresses: "221B Baker Street", "1600 Pennsylvania Avenue NW,
 * Apt 4, Washington, DC 20500" (house number, capitalized street words, a
 * street suffix, an optional unit and an optional "City, ST 12345" tail),
 * and the European "Hauptstraße 5, 10115 Berlin" order. */
#include <string.h>

#include "agent/pii_scan.h"

static const char *const k_suffixes[] = {
    "Street",    "St",      "Avenue", "Ave", "Road",    "Rd",    "Lane",    "Ln",
    "Boulevard", "Blvd",    "Drive",  "Dr",  "Way",     "Court", "Ct",      "Place",
    "Pl",        "Terrace", "Square", "Sq",  "Parkway", "Pkwy",  "Highway", "Hwy",
    "Crescent",  "Close",   "Circle", "Row", "Alley",   NULL,
};
/* Abbreviated suffixes, which take a '.' ("Main St."); after a full word the
 * '.' ends the sentence. */
static const char *const k_abbrevs[] = {"St", "Ave", "Rd",   "Ln",  "Blvd", "Dr",
                                        "Ct", "Pl",  "Pkwy", "Hwy", "Sq",   NULL};
static const char *const k_directions[] = {"N", "S", "E", "W", "NE", "NW", "SE", "SW", NULL};
static const char *const k_units[] = {"Apt",  "Apartment", "Suite", "Ste", "Unit",
                                      "Flat", "Floor",     "Fl",    NULL};
/* Endings of German, Dutch and Scandinavian street names, lower case. */
static const char *const k_eu_endings[] = {"straße", "strasse", "str.", "weg",  "gasse",
                                           "platz",  "allee",   "damm", "ring", "gracht",
                                           "laan",   "gatan",   "vej",  "gade", NULL};

/* A house number at I: 1-5 digits and an optional letter ("221B"). */
static size_t house_number(const char *t, size_t n, size_t i) {
    size_t j = i;
    while (j < n && j - i < 5 && pii_digit((unsigned char)t[j]))
        j++;
    if (j == i || (j < n && pii_digit((unsigned char)t[j]))) return i;
    if (j < n && pii_upper((unsigned char)t[j]) &&
        (j + 1 >= n || !pii_alnum((unsigned char)t[j + 1])))
        j++;
    if (j < n && pii_alnum((unsigned char)t[j])) return i;
    return j;
}

/* An ordinal street word ("5th", "42nd") at I, or I. */
static size_t ordinal(const char *t, size_t n, size_t i) {
    size_t j = i;
    while (j < n && j - i < 4 && pii_digit((unsigned char)t[j]))
        j++;
    if (j == i) return i;
    static const char *const k_ord[] = {"st", "nd", "rd", "th"};
    for (int k = 0; k < 4; k++)
        if (pii_eq(t, n, j, k_ord[k], false) && (j + 2 >= n || !pii_alnum((unsigned char)t[j + 2])))
            return j + 2;
    return i;
}

/* A unit after the street (", Apt 4B", " Suite 200", " #12"), or I. */
static size_t unit(const char *t, size_t n, size_t i) {
    size_t j = i;
    if (j < n && t[j] == ',') j++;
    if (j >= n || t[j] != ' ') return i;
    j++;
    if (j < n && t[j] == '#') {
        j++;
    } else {
        size_t e = pii_word_end(t, n, j);
        if (e == j || !pii_in_list(t, j, e, k_units)) return i;
        j = e;
        if (j < n && t[j] == '.') j++;
        if (j >= n || t[j] != ' ') return i;
        j++;
    }
    size_t v = j;
    while (j < n && j - v < 6 && pii_alnum((unsigned char)t[j]))
        j++;
    if (j == v || !pii_digit((unsigned char)t[v]) || (j < n && pii_alnum((unsigned char)t[j])))
        return i;
    return j;
}

/* A ZIP code: 5 digits, optionally "-1234". */
static size_t zip(const char *t, size_t n, size_t i) {
    size_t j = i;
    while (j < n && j - i < 5 && pii_digit((unsigned char)t[j]))
        j++;
    if (j - i != 5) return i;
    if (j + 5 <= n && t[j] == '-') {
        size_t k = j + 1;
        while (k < n && k - j - 1 < 4 && pii_digit((unsigned char)t[k]))
            k++;
        if (k - j - 1 == 4) j = k;
    }
    if (j < n && pii_alnum((unsigned char)t[j])) return i;
    return j;
}

/* The ", City, ST 12345" tail (comma before ST optional), or I. */
static size_t city_tail(const char *t, size_t n, size_t i) {
    if (!pii_eq(t, n, i, ", ", false)) return i;
    size_t j = i + 2;
    for (int w = 0; w < 3; w++) {
        size_t e = pii_name_word(t, n, j);
        if (e == j) break;
        j = e;
        if (j < n && t[j] == ',') j++;
        if (j >= n || t[j] != ' ') return i;
        j++;
        if (j + 2 < n && pii_upper((unsigned char)t[j]) && pii_upper((unsigned char)t[j + 1]) &&
            t[j + 2] == ' ') {
            size_t z = zip(t, n, j + 3);
            if (z > j + 3) return z;
        }
    }
    return i;
}

/* A UK postcode at I ("SW1A 2AA", "EC1A 1BB", "M1 1AE"): its end, or I. */
static size_t uk_postcode(const char *t, size_t n, size_t i) {
    size_t j = i;
    while (j < n && j - i < 2 && pii_upper((unsigned char)t[j]))
        j++;
    if (j == i || j >= n || !pii_digit((unsigned char)t[j])) return i;
    j++;
    if (j < n && (pii_digit((unsigned char)t[j]) || pii_upper((unsigned char)t[j]))) j++;
    if (j + 4 > n || t[j] != ' ' || !pii_digit((unsigned char)t[j + 1]) ||
        !pii_upper((unsigned char)t[j + 2]) || !pii_upper((unsigned char)t[j + 3]))
        return i;
    j += 4;
    return j < n && pii_alnum((unsigned char)t[j]) ? i : j;
}

/* A European or UK tail after a street: ", 10115 Berlin", ", 1015 CJ
 * Amsterdam", ", 1100-053 Lisboa", ", London SW1A 2AA"; its end, or I. */
static size_t eu_tail(const char *t, size_t n, size_t i) {
    if (!pii_eq(t, n, i, ", ", false)) return i;
    size_t p = i + 2, q = p;
    while (q < n && q - p < 5 && pii_digit((unsigned char)t[q]))
        q++;
    if (q - p == 3 && q + 3 < n && t[q] == ' ' && pii_digit((unsigned char)t[q + 1]) &&
        pii_digit((unsigned char)t[q + 2]))
        q += 3, p = q - 4; /* SE "411 38 Göteborg" */
    if (q - p >= 4) {
        if (q + 4 < n && t[q] == '-' && pii_digit((unsigned char)t[q + 1])) q += 4; /* PT */
        if (q + 3 < n && t[q] == ' ' && pii_upper((unsigned char)t[q + 1]) &&
            pii_upper((unsigned char)t[q + 2]) && t[q + 3] == ' ')
            q += 3; /* NL "1015 CJ" */
        if (q < n && t[q] == ' ') {
            size_t town = pii_name_word(t, n, q + 1);
            if (town > q + 1) return town;
        }
        return i;
    }
    size_t town = pii_name_word(t, n, p);
    if (town > p && town < n && t[town] == ' ') {
        size_t pc = uk_postcode(t, n, town + 1);
        if (pc > town + 1) return pc;
    }
    return i;
}

size_t pii_match_postcode_uk(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!pii_starts(t, i)) return 0;
    size_t e = uk_postcode(t, n, i);
    return e > i ? e : 0;
}

/* French, Spanish, Italian and Portuguese streets: "12 rue de la Paix",
 * "Calle Mayor 5", "Via Roma 10", "Avenida de la Constitución 20", with an
 * optional ", 75002 Paris" tail. */
static const char *const k_romance_after[] = {"rue",   "avenue", "av.",   "boulevard", "bd",
                                              "place", "chemin", "allée", "impasse",   "quai",
                                              "route", "cours",  NULL};
static const char *const k_romance_before[] = {
    "Calle", "Avenida", "Plaza",  "Paseo",     "Carrer", "Camino", "Via",
    "Viale", "Piazza",  "Corso",  "Largo",     "Vicolo", "Rua",    "Travessa",
    "Praça", "Rue",     "Avenue", "Boulevard", "Place",  "Av",     NULL};
static const char *const k_romance_particles[] = {"de",  "la",  "du", "des",   "d'", "le",
                                                  "l'",  "del", "di", "della", "do", "da",
                                                  "dos", "das", "y",  "e",     NULL};

/* Street words from I: capitalized words and particles, at least one
 * capitalized; the end, or I. */
static size_t romance_words(const char *t, size_t n, size_t i) {
    size_t j = i, end = i;
    for (int w = 0; w < 6 && j < n; w++) {
        size_t e = pii_name_word(t, n, j);
        if (e > j) {
            end = e;
        } else {
            e = pii_word_end(t, n, j);
            if (e == j || !pii_in_list(t, j, e, k_romance_particles)) break;
        }
        if (e >= n || t[e] != ' ') break;
        j = e + 1;
    }
    return end;
}

size_t pii_match_street_romance(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!pii_starts(t, i)) return 0;
    if (pii_digit((unsigned char)t[i])) {
        size_t j = house_number(t, n, i);
        if (j == i || j >= n || t[j] != ' ') return 0;
        size_t s = j + 1, e = s;
        while (e < n && e - s < 10 && t[e] != ' ')
            e++;
        bool listed = false;
        for (const char *const *w = k_romance_after; *w; w++)
            listed |= strlen(*w) == e - s && pii_eq(t, n, s, *w, true);
        if (!listed || e >= n) return 0;
        size_t w = romance_words(t, n, e + 1);
        return w > e + 1 ? eu_tail(t, n, w) : 0;
    }
    size_t e = pii_word_end(t, n, i);
    if (e == i || !pii_in_list(t, i, e, k_romance_before)) return 0;
    if (e < n && t[e] == '.') e++; /* "Av." */
    if (e >= n || t[e] != ' ') return 0;
    size_t w = romance_words(t, n, e + 1);
    if (w == e + 1 || w >= n) return 0;
    if (t[w] == ',') w++; /* "Av. Paulista, 1578" */
    if (w >= n || t[w] != ' ') return 0;
    size_t h = house_number(t, n, w + 1);
    return h > w + 1 ? eu_tail(t, n, h) : 0;
}

/* A post office box: "P.O. Box 1234", "PO Box 4521", "Postfach 10 02 33",
 * "Apartado 123", "Casella postale 12". */
size_t pii_match_po_box(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!pii_starts(t, i)) return 0;
    static const char *const k_box[] = {
        "P.O. Box ", "PO Box ",          "P.O.Box ",       "Post Office Box ", "Postfach ",
        "Apartado ", "Casella postale ", "Boîte postale ", "Postbus ",         NULL};
    for (const char *const *b = k_box; *b; b++) {
        size_t k = strlen(*b);
        if (!pii_eq(t, n, i, *b, true)) continue;
        size_t j = i + k, d = j;
        while (j < n && j - d < 12 &&
               (pii_digit((unsigned char)t[j]) ||
                (t[j] == ' ' && j + 1 < n && pii_digit((unsigned char)t[j + 1]))))
            j++;
        return j > d && (j >= n || !pii_alnum((unsigned char)t[j])) ? j : 0;
    }
    return 0;
}

size_t pii_match_address(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    /* A unit first: "Flat 2B, 7 Church Road". */
    size_t u = pii_word_end(t, n, i);
    if (u > i && pii_starts(t, i) && pii_in_list(t, i, u, k_units) && u + 1 < n && t[u] == ' ') {
        size_t v = u + 1;
        while (v < n && v - u < 6 && pii_alnum((unsigned char)t[v]))
            v++;
        if (v > u + 1 && pii_digit((unsigned char)t[u + 1]) && pii_eq(t, n, v, ", ", false) &&
            v + 2 < n && pii_digit((unsigned char)t[v + 2]))
            return pii_match_address(t, n, v + 2, start);
    }
    if (!pii_digit((unsigned char)t[i]) || !pii_starts(t, i)) return 0;
    size_t j = house_number(t, n, i);
    if (j == i) return 0;
    int words = 0;
    for (int w = 0; w < 5; w++) {
        if (j >= n || t[j] != ' ') return 0;
        size_t s = j + 1, e = pii_name_word(t, n, s);
        if (e == s) e = ordinal(t, n, s);
        if (e == s) return 0;
        if (words > 0 && pii_in_list(t, s, e, k_suffixes)) {
            j = e;
            if (j < n && t[j] == '.' && pii_in_list(t, s, e, k_abbrevs)) j++;
            if (j + 1 < n && t[j] == ' ') {
                size_t d = pii_word_end(t, n, j + 1);
                if (d > j + 1 && pii_in_list(t, j + 1, d, k_directions) &&
                    (d >= n || !pii_alnum((unsigned char)t[d])))
                    j = d;
            }
            j = unit(t, n, j);
            size_t c = city_tail(t, n, j);
            return c > j ? c : eu_tail(t, n, j);
        }
        j = e;
        words++;
    }
    return 0;
}

static bool eu_street_word(const char *t, size_t i, size_t e) {
    for (const char *const *s = k_eu_endings; *s; s++) {
        size_t k = strlen(*s);
        if (e - i > k && !memcmp(t + e - k, *s, k)) return true;
    }
    return false;
}

size_t pii_match_street_eu(const char *t, size_t n, size_t i, size_t *start) {
    (void)start;
    if (!pii_upper((unsigned char)t[i]) || !pii_starts(t, i)) return 0;
    size_t e = pii_word_end(t, n, i);
    if (e < i + 4) return 0;
    if (e < n && t[e] == '.') e++; /* "Hauptstr." */
    if (!eu_street_word(t, i, e) || e >= n || t[e] != ' ') return 0;
    size_t j = house_number(t, n, e + 1);
    if (j == e + 1) return 0;
    /* ", 10115 Berlin": postcode and town. */
    return eu_tail(t, n, j);
}
