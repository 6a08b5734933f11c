/* The oracle's daily token budget. Days are UTC calendar days; the count
 * starts again at 0 each day. With a state file (matchbox agent) the count
 * survives between runs, written atomically after each spend; without one
 * (matchbox serve) it lives in memory and starts at 0 when the server does.
 * Thread-safe. */
#ifndef MB_AGENT_BUDGET_H
#define MB_AGENT_BUDGET_H

#include <time.h>

#include <matchbox.h>

typedef struct mb_budget mb_budget;

/* TOKENS_PER_DAY <= 0: unlimited. STATE_PATH NULL: in memory. A state file
 * that does not exist yet is fine; an unreadable one is an error. */
mb_status mb_budget_new(long tokens_per_day, const char *state_path, mb_budget **out);
void mb_budget_free(mb_budget *b);
/* 1 when ESTIMATE more tokens fit today's budget at time NOW. */
int mb_budget_allows(mb_budget *b, long estimate, time_t now);
/* Count TOKENS spent at NOW (and save the state file, if any). */
mb_status mb_budget_spend(mb_budget *b, long tokens, time_t now);
long mb_budget_used(mb_budget *b, time_t now);
long mb_budget_limit(const mb_budget *b);

#endif
