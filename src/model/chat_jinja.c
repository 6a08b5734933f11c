/* The model's own chat template, rendered by the Jinja engine with the
 * variables Hugging Face passes: messages, add_generation_prompt,
 * bos_token, eos_token, tools, and the caller's extras. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/params.h"
#include "jinja/jinja.h"
#include "model/chat_internal.h"
#include "model/model.h"

mb_status mb_model_set_chat_template(mb_model *m, const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(m->chat_template);
    m->chat_template = copy;
    m->chat_template_len = len;
    return MB_OK;
}

mb_str mb_chat_template_text(const mb_model *m) {
    mb_str s = {NULL, 0};
    if (!m) return s;
    if (m->chat_template) return (mb_str){m->chat_template, m->chat_template_len};
    if (mb_gguf_find_kv(m->gguf, "tokenizer.chat_template") &&
        mb_gguf_get_str(m->gguf, "tokenizer.chat_template", &s) != MB_OK)
        s.ptr = NULL;
    mb_error_clear();
    return s;
}

int mb_chat_has_template(const mb_model *m) {
    mb_str t = mb_chat_template_text(m);
    return t.ptr && t.len > 0;
}

static mb_status set_json(mb_jinja_ctx *c, mb_jv *vars, const char *key, const char *json,
                          const char *what) {
    mb_jv *v = NULL;
    mb_status st = mb_jv_from_json(c, json, strlen(json), &v);
    if (st) return mb_error_prefix(st, "%s", what);
    return mb_jv_dict_set(c, vars, key, v);
}

mb_chat_render_params mb_chat_render_default_params(void) {
    return (mb_chat_render_params){.struct_size = sizeof(mb_chat_render_params)};
}

mb_status mb_chat_render_template(const mb_model *m, const mb_chat_render_params *params,
                                  char **out, size_t *out_len) {
    *out = NULL;
    mb_chat_render_params p = mb_chat_render_default_params();
    mb_status st =
        mb_params_merge(&p, params, sizeof p, MB_PARAMS_SIZE_UPTO(mb_chat_render_params, now),
                        "mb_chat_render_params");
    if (st) return st;
    if (!p.messages_json) return mb_errorf(MB_ERR_INVALID_ARG, "no messages");
    return mb_chat_render_jinja(m, &p, NULL, 0, out, out_len);
}

mb_status mb_chat_render_jinja(const mb_model *m, const mb_chat_render_params *p,
                               const mb_chat_message *msgs, size_t n, char **out, size_t *out_len) {
    *out = NULL;
    mb_str tmpl = {p->template_text, p->template_len};
    if (!tmpl.ptr) tmpl = mb_chat_template_text(m);
    if (!tmpl.ptr)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "no chat template: the model has none and none was given");
    mb_jinja_ctx *c = mb_jinja_new();
    if (!c) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    mb_jv *vars = mb_jv_dict(c);
    mb_status st = vars ? MB_OK : mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    char bos[MB_CHAT_SPECIAL_CAP] = "", eos[MB_CHAT_SPECIAL_CAP] = "";
    if (m) {
        mb_chat_special_text(m, mb_token_bos(m), bos);
        mb_chat_special_text(m, mb_token_eos(m), eos);
    }
    if (!st) st = mb_jv_dict_set(c, vars, "bos_token", mb_jv_str(c, bos, strlen(bos)));
    if (!st) st = mb_jv_dict_set(c, vars, "eos_token", mb_jv_str(c, eos, strlen(eos)));
    if (!st)
        st = mb_jv_dict_set(c, vars, "add_generation_prompt",
                            mb_jv_bool(c, p->add_generation_prompt));
    if (!st && p->messages_json) st = set_json(c, vars, "messages", p->messages_json, "messages");
    if (!st && !p->messages_json) { /* role/content pairs from the C API */
        mb_jv *list = mb_jv_list(c);
        for (size_t i = 0; !st && i < n; i++) {
            mb_jv *msg = mb_jv_dict(c);
            st = mb_jv_dict_set(c, msg, "role", mb_jv_str(c, msgs[i].role, strlen(msgs[i].role)));
            if (!st)
                st = mb_jv_dict_set(c, msg, "content",
                                    mb_jv_str(c, msgs[i].content, strlen(msgs[i].content)));
            if (!st) st = mb_jv_list_push(c, list, msg);
        }
        if (!st) st = mb_jv_dict_set(c, vars, "messages", list);
    }
    if (!st && p->tools_json) st = set_json(c, vars, "tools", p->tools_json, "tools");
    if (!st && p->vars_json) {
        mb_jv *extra = NULL;
        st = mb_jv_from_json(c, p->vars_json, strlen(p->vars_json), &extra);
        if (st) st = mb_error_prefix(st, "variables");
        if (!st) st = mb_jv_dict_merge(c, vars, extra);
    }
    mb_jinja_limits lim = {.now = p->now};
    if (!st) st = mb_jinja_render(c, tmpl.ptr, (size_t)tmpl.len, vars, &lim, out, out_len);
    mb_jinja_free(c);
    return st;
}
