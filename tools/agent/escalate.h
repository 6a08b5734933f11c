/* Escalation: what happens once the router sends a request to the oracle.
 * The daily budget is checked, every message is redacted (redact.h), the
 * redacted text goes to the oracle, the answer comes back with the
 * placeholders restored, and the audit log records what was sent. Shared by
 * `matchbox agent` and `matchbox serve --oracle`. */
#ifndef MB_AGENT_ESCALATE_H
#define MB_AGENT_ESCALATE_H

#include <stddef.h>

#include "agent/audit.h"
#include "agent/budget.h"
#include "agent/oracle.h"

typedef struct {
    mb_oracle *oracle;       /* NULL: there is none */
    const char *url, *model; /* as configured, for the audit log */
    mb_budget *budget;       /* NULL: unlimited */
    mb_audit *audit;         /* NULL: no log */
} mb_agent_oracle;

typedef struct {
    char *content; /* the answer, placeholders restored (free()) */
    int redactions;
    int prompt_tokens, completion_tokens; /* the oracle's counts; -1 unknown */
    char finish_reason[32];
} mb_escalation;

/* Ask the oracle on behalf of MSGS, for the reason WHY. ON_PIECE (may be
 * NULL) gets the answer as it streams, placeholders restored. On failure
 * (budget spent, oracle unreachable or refusing) nothing is in OUT and
 * REASON (CAP bytes) says why in the words the response metadata uses; the
 * caller answers locally. */
mb_status mb_agent_escalate(const mb_agent_oracle *ao, const mb_oracle_msg *msgs, int n_msgs,
                            int max_tokens, float temperature, const char *why,
                            mb_oracle_piece_fn on_piece, void *user, mb_escalation *out,
                            char *reason, size_t cap);
void mb_escalation_free(mb_escalation *e);

/* Record a request the guardian answered (nothing sent). */
void mb_agent_audit_local(const mb_agent_oracle *ao, const char *reason, double seconds);

#endif
