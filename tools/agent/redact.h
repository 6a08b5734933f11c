/* Private-data redaction before text leaves the device (docs/PRIVACY.md).
 * Personal data is replaced by typed placeholders ([EMAIL_1], [PHONE_2],
 * [CARD_1], [IBAN_1], [ADDRESS_1], [NAME_1]); the same value gets the same
 * placeholder for the life of the redactor (one conversation), and
 * mb_unredact puts the originals back into the oracle's answer. */
#ifndef MB_AGENT_REDACT_H
#define MB_AGENT_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include <matchbox.h>

typedef enum {
    MB_PII_EMAIL,
    MB_PII_PHONE,   /* international and national formats */
    MB_PII_CARD,    /* payment card numbers, Luhn-checked */
    MB_PII_IBAN,    /* mod-97-checked */
    MB_PII_ADDRESS, /* street addresses */
    MB_PII_NAME,    /* person names (heuristic; limits in docs/PRIVACY.md) */
    MB_PII_ID,      /* national ID, tax, record and account numbers; labelled numbers */
    MB_PII_DOB,     /* dates of birth (a date after a birth cue) */
    MB_PII_IP,      /* IPv4 and IPv6 addresses */
    MB_PII_SECRET,  /* API keys, tokens, passwords */
    MB_PII_KIND_COUNT
} mb_pii_kind;

typedef struct mb_redactor mb_redactor;

mb_status mb_redactor_new(mb_redactor **out);
void mb_redactor_free(mb_redactor *r);

/* Replace the personal data in TEXT[0..len) by placeholders. *OUT is a new
 * NUL-terminated string (free()), *OUT_LEN its length (may be NULL). */
mb_status mb_redact(mb_redactor *r, const char *text, size_t len, char **out, size_t *out_len);
/* Replace every placeholder this redactor issued by its original value;
 * unknown placeholders are left as they are. */
mb_status mb_unredact(const mb_redactor *r, const char *text, size_t len, char **out,
                      size_t *out_len);
/* Distinct values replaced so far, all kinds or one. */
int mb_redactor_count(const mb_redactor *r);
int mb_redactor_count_kind(const mb_redactor *r, mb_pii_kind kind);
/* The placeholder prefix of KIND: "EMAIL", "PHONE", "CARD", "IBAN", "ADDRESS", "NAME",
 * "ID", "DOB", "IP", "SECRET". */
const char *mb_pii_kind_name(mb_pii_kind kind);
/* True when TEXT holds any personal data the redactor would replace. */
bool mb_text_has_pii(const char *text, size_t len);

#endif
