/* The agent's options of `matchbox serve` (--oracle and the rest): parsed
 * here so cmd_serve.c only hands them on. */
#ifndef MB_TOOLS_AGENT_SERVE_H
#define MB_TOOLS_AGENT_SERVE_H

#include "agent/escalate.h"
#include "server/server.h"

typedef struct {
    const char *url, *model, *key_env, *audit;
    long budget, retries;
    double timeout;
    mb_agent_oracle ao;
    mb_router_lr router; /* --router FILE, loaded */
} agent_serve_opts;

extern const char agent_serve_help[];

void agent_serve_init(agent_serve_opts *o, mb_server_params *sp);
/* One flag at argv[*i]: 1 if it was one (advancing *i past its value), 0 if
 * not, -1 after printing an error. */
int agent_serve_flag(int argc, char **argv, int *i, agent_serve_opts *o, mb_server_params *sp);
/* Open the oracle, budget and audit log; 0 after printing an error. */
int agent_serve_open(agent_serve_opts *o, mb_server_params *sp);
void agent_serve_close(agent_serve_opts *o);

#endif
