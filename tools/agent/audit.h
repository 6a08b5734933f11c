/* The audit log: one JSON object per line for every routed request, with
 * what left the device (the redacted messages, exactly as sent), where it
 * went, the token counts and the time. It never holds the API key, and the
 * raw text of a request only when it was answered locally and
 * log_local_text is set (off by default). Thread-safe; lines are appended
 * with one write each. */
#ifndef MB_AGENT_AUDIT_H
#define MB_AGENT_AUDIT_H

#include "agent/oracle.h"
#include <matchbox.h>

typedef struct mb_audit mb_audit;

typedef struct {
    const char *answered_by; /* "guardian" or "oracle" */
    const char *reason;
    const char *url, *model;   /* the oracle's; NULL when nothing was sent */
    const mb_oracle_msg *sent; /* the redacted messages sent; NULL when none */
    int n_sent;
    int redactions;
    int prompt_tokens, completion_tokens; /* -1: unknown */
    const char *error;                    /* why the oracle failed, or NULL */
    double seconds;
} mb_audit_entry;

/* Append to PATH (created with mode 0600 when absent). */
mb_status mb_audit_open(const char *path, mb_audit **out);
void mb_audit_close(mb_audit *a);
mb_status mb_audit_write(mb_audit *a, const mb_audit_entry *e);

#endif
