/* The prompt of a chat request with tools (tool_render.c). */
#ifndef MB_SERVER_TOOL_RENDER_H
#define MB_SERVER_TOOL_RENDER_H

#include "server/tools.h"

/* The format MODEL's template writes calls in, found by rendering a probe
 * conversation with it; GENERIC when FAMILY names a built-in template
 * family (not "jinja"), when the model has no Jinja template, or when the
 * template writes calls in no format the server parses. */
mb_tool_format mb_tool_format_detect(const mb_model *model, const char *family);

/* The prompt text of chat request Q, which has tools or tool messages
 * (q->messages_json), in format F; sets q->tool_format, the format its
 * answer is parsed in. NULL on failure, with tool_last_error() saying why
 * (a template's error, such as a conversation it refuses). */
char *mb_tool_render(const mb_model *model, const char *family, mb_tool_format f,
                     mb_server_request *q);

/* The GBNF that constrains the answer of Q in format F to calls of the
 * functions it allows, under tool_choice "required" or a named function;
 * NULL otherwise, or on failure with ERR (CAP bytes) saying why. */
char *mb_tool_grammar(mb_tool_format f, const mb_server_request *q, char *err, size_t cap);

#endif
