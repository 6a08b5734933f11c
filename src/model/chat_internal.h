/* Shared by the chat-template API's two renderers (chat.c: the built-in
 * families; chat_jinja.c: the model's own Jinja template). */
#ifndef MB_MODEL_CHAT_INTERNAL_H
#define MB_MODEL_CHAT_INTERNAL_H

#include "model/model.h"

enum { MB_CHAT_SPECIAL_CAP = 64 };

/* The text of special token ID into BUF ("" when none or too long). */
void mb_chat_special_text(const mb_model *m, mb_token id, char *buf);

/* The template to render: mb_model_set_chat_template's, else the file's
 * tokenizer.chat_template; ptr NULL when there is none. */
mb_str mb_chat_template_text(const mb_model *m);

/* Render with the Jinja engine: P's messages_json when set, else the N
 * role/content pairs MSGS. */
mb_status mb_chat_render_jinja(const mb_model *m, const mb_chat_render_params *p,
                               const mb_chat_message *msgs, size_t n, char **out, size_t *out_len);

#endif
