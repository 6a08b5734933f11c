/* The JSON bodies the server answers with, in the OpenAI API's shapes. Each
 * returns a malloc'ed NUL-terminated string, NULL when out of memory. */
#ifndef MB_SERVER_RESPOND_H
#define MB_SERVER_RESPOND_H

#include <stddef.h>

#include "server/gen.h"
#include "server/tools.h"

typedef struct {
    const mb_model *model;
    const char *model_id;
    const char *id; /* "chatcmpl-..." or "cmpl-..." */
    long created;   /* Unix seconds */
} mb_resp_meta;

/* A finish value past the job's own: the answer ended with tool calls. */
enum { MB_RESP_FINISH_TOOL_CALLS = 100 };

char *mb_resp_error(const char *message, const char *type, const char *param, const char *code);
const char *mb_resp_finish_reason(int finish);

/* The whole answer of a finished job. J's lock must be held. */
char *mb_resp_completion(const mb_resp_meta *m, const mb_job *j);
/* One stream chunk with TEXT[0..len) and logprobs [lp0, lp1); FINISH >= 0
 * closes the choice (with usage when USAGE), ROLE opens a chat answer.
 * J's lock must be held. */
char *mb_resp_chunk(const mb_resp_meta *m, const mb_job *j, const char *text, size_t len,
                    size_t lp0, size_t lp1, int role, int finish, int usage);
/* J's answer (J's lock held, J done) split into text and tool calls in
 * the request's format; under tool_choice "none" without calls. 1 when out
 * of memory. */
int mb_resp_tool_parse(const mb_job *j, mb_tool_parse_result *out);
/* One stream chunk with R's calls from index FIRST as delta.tool_calls. */
char *mb_resp_tool_chunk(const mb_resp_meta *m, const mb_job *j, const mb_tool_parse_result *r,
                         int first);
char *mb_resp_models(const char *model_id, long created, int n_ctx);

#endif
