/* The state of `matchbox chat`: the conversation, the session whose KV
 * cache holds it, and the turn logic that feeds only what is new. */
#ifndef MB_TOOLS_CHAT_STATE_H
#define MB_TOOLS_CHAT_STATE_H

#include "matchbox.h"
#include "options.h"

typedef struct {
    cli_opts c; /* the shared flags: model, context, sampling, template, -v */
    const char *system;
    long n_predict;
    int policy_error, verbose_prompt;
} chat_opts;

typedef struct chat_state chat_state;

/* Each returns 0, or 1 after printing an error that ends the program. */
int chat_open(const chat_opts *o, mb_model *model, chat_state **out);
void chat_close(chat_state *c);
/* Answer one user message, streaming the answer to stdout. Problems that
 * concern only this turn (it does not fit, say) are reported and return 0. */
int chat_turn(chat_state *c, const char *user);
/* Forget the conversation (the system prompt stays) and clear the cache. */
int chat_clear(chat_state *c);
/* Write the conversation as JSON, atomically; reports a failure, returns 1. */
int chat_save(chat_state *c, const char *path);

/* Set by Ctrl-C (cmd_chat.c). */
int chat_interrupted(void);

#endif
