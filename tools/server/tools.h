/* Tool calling in chat completions (docs/SERVER.md, "Tool calling"): the
 * formats a model writes its calls in, the request's tool fields
 * (request_tools.c), the prompt (tool_render.c) and the parsing of the
 * model's answer into calls (tool_parse.c). */
#ifndef MB_SERVER_TOOLS_H
#define MB_SERVER_TOOLS_H

#include <stddef.h>

#include <matchbox.h>

/* How the model writes a call, known from its template (tool_render.c). */
typedef enum {
    MB_TOOL_FORMAT_NONE = 0, /* no tools in play: the answer is text */
    MB_TOOL_FORMAT_GENERIC,  /* {"tool_call": {...}} / {"tool_calls": [...]} / {"response": ...} */
    MB_TOOL_FORMAT_HERMES,   /* <tool_call>{"name":..,"arguments":{..}}</tool_call> (Qwen) */
    MB_TOOL_FORMAT_LLAMA3,   /* {"name":..,"parameters":{..}}, optionally after <|python_tag|> */
    MB_TOOL_FORMAT_MISTRAL,  /* [TOOL_CALLS][{...}] or [TOOL_CALLS]name[ARGS]{...} */
} mb_tool_format;

enum { MB_TOOL_CHOICE_AUTO, MB_TOOL_CHOICE_NONE, MB_TOOL_CHOICE_REQUIRED, MB_TOOL_CHOICE_NAMED };

const char *mb_tool_format_name(mb_tool_format f);

struct cJSON;
typedef struct mb_server_request mb_server_request;
typedef struct mb_server_error mb_server_error;
/* Read and check the tool fields of chat request ROOT into R (request.h's
 * hB fields), after its messages were read: 400s name the field. */
mb_status mb_server_request_tools(const struct cJSON *root, mb_server_request *r,
                                  mb_server_error *err);

typedef struct {
    char *name;
    char *arguments; /* a JSON object's text */
    char id[40];
} mb_tool_call;

typedef struct {
    char *content; /* the text outside any call markup; never NULL after a parse */
    mb_tool_call *calls;
    int n_calls;
} mb_tool_parse_result;

/* Split a finished answer TEXT[0..len) in format F into its text and its
 * calls. Markup that does not parse into a call (bad JSON, no name) is
 * dropped, never put in the content. Each call gets a new id: 9 letters
 * and digits for Mistral (its templates check the length), else "call_"
 * and 24. 0 on success, 1 when out of memory. */
int mb_tool_parse(mb_tool_format f, const char *text, size_t len, mb_tool_parse_result *out);
void mb_tool_parse_free(mb_tool_parse_result *r);

/* How many bytes at the start of TEXT[0..len), an answer still being
 * generated, are text for certain: before them no call markup starts,
 * and they are not a beginning of it. The parse of the finished answer
 * gives a content that starts with those bytes. */
size_t mb_tool_text_safe(mb_tool_format f, const char *text, size_t len);

/* The markers some vocabularies hold as control tokens, whose text the
 * generated text leaves out (gen.c puts them back for parsing): 1 when
 * PIECE (a token's text rendered as special) is one. */
int mb_tool_is_marker(const char *piece, size_t len);

#endif
