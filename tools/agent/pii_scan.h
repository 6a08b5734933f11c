/* Byte-level helpers shared by the PII detectors (pii_detect.c, pii_names.c,
 * pii_places.c). Non-ASCII bytes count as letters, so a word never ends
 * inside a UTF-8 character. */
#ifndef MB_AGENT_PII_SCAN_H
#define MB_AGENT_PII_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* The longest word a name or street part may be: bounds each look-ahead. */
#define MB_PII_MAX_WORD 40

static inline bool pii_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
static inline bool pii_upper(unsigned char c) {
    return c >= 'A' && c <= 'Z';
}
static inline bool pii_lower(unsigned char c) {
    return c >= 'a' && c <= 'z';
}
static inline bool pii_alpha(unsigned char c) {
    return pii_upper(c) || pii_lower(c);
}
static inline bool pii_alnum(unsigned char c) {
    return pii_alpha(c) || pii_digit(c);
}
static inline bool pii_letter(unsigned char c) {
    return pii_alpha(c) || c >= 0x80;
}
/* No letter or digit (or UTF-8 byte) just before I / at J. */
static inline bool pii_boundary_before(const char *t, size_t i) {
    return i == 0 || !(pii_alnum((unsigned char)t[i - 1]) || (unsigned char)t[i - 1] >= 0x80);
}
static inline bool pii_boundary_after(const char *t, size_t n, size_t j) {
    return j >= n || !(pii_alnum((unsigned char)t[j]) || (unsigned char)t[j] >= 0x80);
}
/* True when position I starts a token: the previous byte is no letter or digit. */
static inline bool pii_starts(const char *t, size_t i) {
    return i == 0 || !(pii_alnum((unsigned char)t[i - 1]) || (unsigned char)t[i - 1] >= 0x80);
}

/* The end of the word at I (letters, with inner ' or - between letters), or
 * I when there is none or it is longer than MB_PII_MAX_WORD. */
size_t pii_word_end(const char *t, size_t n, size_t i);
/* The end of a capitalized name word at I ("Anna", "O'Brien", "Müller",
 * "Smith-Jones"; not "USA" or "a"), or an initial "J.", or I. */
size_t pii_name_word(const char *t, size_t n, size_t i);
/* True when T[i..i+len) equals the ASCII string S, ignoring case when ICASE. */
bool pii_eq(const char *t, size_t n, size_t i, const char *s, bool icase);
/* True when the word T[i..end) is in the NULL-terminated LIST (exact case). */
bool pii_in_list(const char *t, size_t i, size_t end, const char *const *list);

/* Matchers: the end of a match starting at I (0: none); *START may be set
 * past I when a leading cue ("Dr.", "my name is") stays in the text. */
size_t pii_match_address(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_street_eu(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_name_cue(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_name_listed(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_signature(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_name_kin(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_street_romance(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_postcode_uk(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_po_box(const char *t, size_t n, size_t i, size_t *start);
/* pii_ids.c and pii_secrets.c */
size_t pii_match_id_shape(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_id_labelled(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_dob(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_ip(const char *t, size_t n, size_t i, size_t *start);
size_t pii_match_secret(const char *t, size_t n, size_t i, size_t *start);

#endif
