/* Chat templates without a Jinja engine: a model's tokenizer.chat_template
 * is recognized by the markers of its family, and the family's documented
 * format is rendered in C. */
#ifndef MB_TOKENIZER_CHAT_TEMPLATE_H
#define MB_TOKENIZER_CHAT_TEMPLATE_H

#include <stddef.h>

#include "matchbox.h"

typedef enum {
    MB_CHAT_UNKNOWN = 0,
    MB_CHAT_CHATML,         /* <|im_start|>role\n...<|im_end|>\n (Qwen, SmolLM) */
    MB_CHAT_LLAMA2,         /* <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] */
    MB_CHAT_LLAMA3,         /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    MB_CHAT_MISTRAL,        /* v3 (7B v0.3): [INST] ...[/INST], system before the last user */
    MB_CHAT_MISTRAL_V1,     /* v1 (7B v0.1/v0.2): [INST] ... [/INST], system before the first */
    MB_CHAT_MISTRAL_TEKKEN, /* v3-tekken (Nemo): [INST]...[/INST] without spaces */
    MB_CHAT_MISTRAL_V7,     /* v7 (Small 2501): [SYSTEM_PROMPT]...[/SYSTEM_PROMPT] */
    MB_CHAT_GEMMA,          /* <start_of_turn>user\n...<end_of_turn>\n, assistant is "model" */
    MB_CHAT_PHI3,           /* <|user|>\n...<|end|>\n */
    MB_CHAT_FAMILY_COUNT
} mb_chat_family;

/* The family of a Jinja template string, by its distinctive markers;
 * MB_CHAT_UNKNOWN when none matches. */
mb_chat_family mb_chat_family_detect(const char *tmpl, size_t len);

/* The family a --chat-template NAME selects; MB_CHAT_UNKNOWN for none. */
mb_chat_family mb_chat_family_from_name(const char *name);
const char *mb_chat_family_name(mb_chat_family family);
/* "chatml, llama2, ...": every name mb_chat_family_from_name accepts. */
const char *mb_chat_family_list(void);

/* The special-token texts a rendering needs. bos is written at the start
 * when use_bos is set (the template says {{ bos_token }}); Llama 2 also
 * writes it before every later [INST], as its template does. */
typedef struct {
    const char *bos, *eos; /* "" when the vocabulary has none */
    int use_bos;
} mb_chat_tokens;

/* Render MSGS in FAMILY's format, with the opening of an assistant turn at
 * the end when ADD_GENERATION_PROMPT is set. Writes at most CAP bytes (and a
 * NUL when there is room for it) and sets *n_out to the length of the text,
 * so a call with CAP 0 measures; MB_ERR_INVALID_ARG if CAP was too small, or
 * for a role other than system, user and assistant. */
mb_status mb_chat_render(mb_chat_family family, const mb_chat_tokens *tok,
                         const mb_chat_message *msgs, size_t n, int add_generation_prompt,
                         char *buf, size_t cap, size_t *n_out);

#endif
