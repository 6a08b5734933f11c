/* The public chat-template API: the model's tokenizer.chat_template and its
 * special-token texts, handed to the tokenizer layer's renderer. */
#include <string.h>

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "model/chat_internal.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"

const char *mb_chat_template_names(void) {
    static char names[256];
    if (!names[0])
        snprintf(names, sizeof names, "jinja (the model's own), %s", mb_chat_family_list());
    return names;
}

/* The model's own template: no family named (or "jinja", the name
 * mb_chat_template_name gives it) and the model has one. */
static int use_jinja(const mb_model *m, const char *override) {
    return (!override || !strcmp(override, "jinja")) && mb_chat_has_template(m);
}

static mb_status family_of(const mb_model *m, const char *override, mb_chat_family *f,
                           int *is_fallback, mb_str *tmpl) {
    *tmpl = mb_chat_template_text(m);
    if (is_fallback) *is_fallback = 0;
    if (override && !strcmp(override, "jinja"))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "--chat-template jinja: the model has no chat template to render (set one "
                         "with --chat-template-file)");
    if (override) {
        *f = mb_chat_family_from_name(override);
        if (*f == MB_CHAT_UNKNOWN)
            return mb_errorf(MB_ERR_INVALID_ARG, "unknown chat template '%s' (choose one of: %s)",
                             override, mb_chat_family_list());
        return MB_OK;
    }
    if (!tmpl->ptr || tmpl->len == 0) {
        *f = MB_CHAT_CHATML;
        if (is_fallback) *is_fallback = 1;
        return MB_OK;
    }
    *f = mb_chat_family_detect(tmpl->ptr, (size_t)tmpl->len);
    if (*f == MB_CHAT_UNKNOWN) {
        int shown = tmpl->len > 60 ? 60 : (int)tmpl->len;
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "the model's chat template (tokenizer.chat_template, %llu bytes, "
                         "starting \"%.*s\") is of no family matchbox recognizes; choose one by "
                         "hand with --chat-template NAME, one of: %s",
                         (unsigned long long)tmpl->len, shown, tmpl->ptr, mb_chat_family_list());
    }
    return MB_OK;
}

mb_status mb_chat_template_name(const mb_model *m, const char *override, const char **name,
                                int *is_fallback) {
    mb_chat_family f;
    mb_str tmpl;
    *name = NULL;
    if (use_jinja(m, override)) {
        if (is_fallback) *is_fallback = 0;
        *name = "jinja";
        return MB_OK;
    }
    mb_status st = family_of(m, override, &f, is_fallback, &tmpl);
    if (st) return st;
    *name = mb_chat_family_name(f);
    return MB_OK;
}

void mb_chat_special_text(const mb_model *m, mb_token id, char *buf) {
    size_t n = 0;
    buf[0] = '\0';
    if (id < 0 || mb_token_to_piece(m, id, 1, buf, MB_CHAT_SPECIAL_CAP - 1, &n) != MB_OK) n = 0;
    buf[n] = '\0';
    mb_error_clear();
}

static int mentions(const mb_str *t, const char *word) {
    return t->ptr && memmem(t->ptr, (size_t)t->len, word, strlen(word)) != NULL;
}

mb_status mb_chat_apply(const mb_model *m, const char *override, const mb_chat_message *msgs,
                        size_t n, int add_generation_prompt, char *buf, size_t cap, size_t *n_out) {
    mb_chat_family f;
    mb_str tmpl;
    *n_out = 0;
    if (use_jinja(m, override)) {
        /* The model's own template, as Hugging Face renders it. */
        mb_chat_render_params p = mb_chat_render_default_params();
        p.add_generation_prompt = add_generation_prompt;
        char *text = NULL;
        size_t len = 0;
        mb_status st = mb_chat_render_jinja(m, &p, msgs, n, &text, &len);
        if (st) return st;
        *n_out = len;
        if (cap > 0) {
            size_t k = len < cap ? len : cap;
            memcpy(buf, text, k);
            if (len < cap) buf[len] = '\0';
        }
        free(text);
        return len < cap || cap == 0
                   ? MB_OK
                   : mb_errorf(MB_ERR_INVALID_ARG, "the chat needs %zu bytes", len + 1);
    }
    mb_status st = family_of(m, override, &f, NULL, &tmpl);
    if (st) return st;
    char bos[MB_CHAT_SPECIAL_CAP], eos[MB_CHAT_SPECIAL_CAP];
    mb_chat_special_text(m, mb_token_bos(m), bos);
    mb_chat_special_text(m, mb_token_eos(m), eos);
    /* Without a Jinja engine, a template's {{ bos_token }} is honoured by
     * writing the BOS text; mb_chat_add_special() keeps it from doubling. */
    mb_chat_tokens tok = {bos, eos, mentions(&tmpl, "bos_token")};
    return mb_chat_render(f, &tok, msgs, n, add_generation_prompt, buf, cap, n_out);
}

int mb_chat_add_special(const mb_model *m, const char *text, size_t len) {
    char bos[MB_CHAT_SPECIAL_CAP];
    mb_chat_special_text(m, mb_token_bos(m), bos);
    size_t bl = strlen(bos);
    return !(bl > 0 && len >= bl && memcmp(text, bos, bl) == 0);
}
