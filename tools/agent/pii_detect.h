/* Finding personal data in text: the detectors behind mb_redact and
 * mb_text_has_pii. Each detector looks a bounded distance ahead of each
 * candidate position, so a scan is linear in the text's length whatever the
 * input; spans begin and end on ASCII bytes or runs of non-ASCII bytes, so
 * they never split a UTF-8 character. The heuristics and their limits are
 * documented in docs/PRIVACY.md. */
#ifndef MB_AGENT_PII_DETECT_H
#define MB_AGENT_PII_DETECT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/redact.h"

typedef struct {
    size_t start, end; /* bytes [start, end) */
    mb_pii_kind kind;
} mb_pii_span;

/* The personal data in TEXT[0..len), as non-overlapping spans sorted by
 * start (*SPANS: free(), NULL when none). Where two detectors overlap, the
 * more specific wins: e-mail, IBAN, card, phone, address, name. */
mb_status mb_pii_find(const char *text, size_t len, mb_pii_span **spans, size_t *n_spans);

/* The checksums, exposed for the tests. DIGITS holds only '0'..'9'. */
bool mb_pii_luhn_ok(const char *digits, size_t n);
/* S holds only 'A'..'Z' and '0'..'9', the IBAN without spaces. */
bool mb_pii_iban_ok(const char *s, size_t n);

#endif
