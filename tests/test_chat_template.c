/* Chat templates: each family rendered as its documented format gives it,
 * family detection from excerpts of the real templates, the public API over
 * a model's tokenizer.chat_template, and BOS de-duplication. */
#include "format/gguf.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"

/* The conversation every family renders: system, user, assistant, user,
 * then the opening of the next answer. */
static const mb_chat_message k_conv[] = {
    {"system", "You are terse."},
    {"user", "Hi"},
    {"assistant", "Hello."},
    {"user", "Bye"},
};
enum { N_CONV = sizeof k_conv / sizeof *k_conv };

static const mb_chat_tokens k_llama_tok = {"<s>", "</s>", 1};

static void check_render(mb_chat_family f, const mb_chat_tokens *tok, const mb_chat_message *msgs,
                         size_t n, int add_gen, const char *want) {
    char buf[1024];
    size_t len = 0;
    CHECK_OK(mb_chat_render(f, tok, msgs, n, add_gen, buf, sizeof buf, &len));
    CHECK_MSG(len == strlen(want) && strcmp(buf, want) == 0, "%s:\n got [%s]\nwant [%s]",
              mb_chat_family_name(f), buf, want);
}

/* The formats below are written out from each family's model card /
 * published Jinja template. */
static void test_families(void) {
    check_render(MB_CHAT_CHATML, NULL, k_conv, N_CONV, 1,
                 "<|im_start|>system\nYou are terse.<|im_end|>\n"
                 "<|im_start|>user\nHi<|im_end|>\n"
                 "<|im_start|>assistant\nHello.<|im_end|>\n"
                 "<|im_start|>user\nBye<|im_end|>\n"
                 "<|im_start|>assistant\n");
    /* Llama 2: <<SYS>> inside the first [INST]; BOS before each [INST]. */
    check_render(MB_CHAT_LLAMA2, &k_llama_tok, k_conv, N_CONV, 1,
                 "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s>"
                 "<s>[INST] Bye [/INST]");
    const mb_chat_tokens l3 = {"<|begin_of_text|>", "<|end_of_text|>", 1};
    check_render(MB_CHAT_LLAMA3, &l3, k_conv, N_CONV, 1,
                 "<|begin_of_text|>"
                 "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    /* Mistral v3 (7B-Instruct-v0.3): the system prompt goes in front of the
     * LAST user message, with a blank line. */
    check_render(MB_CHAT_MISTRAL, &k_llama_tok, k_conv, N_CONV, 1,
                 "<s>[INST] Hi[/INST] Hello.</s>[INST] You are terse.\n\nBye[/INST]");
    /* v1 (v0.1/v0.2): spaces inside the tags, system before the first user. */
    check_render(MB_CHAT_MISTRAL_V1, &k_llama_tok, k_conv, N_CONV, 1,
                 "<s>[INST] You are terse.\n\nHi [/INST] Hello.</s>[INST] Bye [/INST]");
    /* v3-tekken (Nemo): no spaces at all. */
    check_render(MB_CHAT_MISTRAL_TEKKEN, &k_llama_tok, k_conv, N_CONV, 1,
                 "<s>[INST]Hi[/INST]Hello.</s>[INST]You are terse.\n\nBye[/INST]");
    /* v7 (Small 2501): system prompt tags, in place. */
    check_render(MB_CHAT_MISTRAL_V7, &k_llama_tok, k_conv, N_CONV, 1,
                 "<s>[SYSTEM_PROMPT]You are terse.[/SYSTEM_PROMPT][INST]Hi[/INST]Hello.</s>"
                 "[INST]Bye[/INST]");
    /* Gemma: no system role (it joins the first user turn); "model". */
    const mb_chat_tokens gemma = {"<bos>", "<eos>", 1};
    check_render(MB_CHAT_GEMMA, &gemma, k_conv, N_CONV, 1,
                 "<bos><start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n"
                 "<start_of_turn>model\nHello.<end_of_turn>\n"
                 "<start_of_turn>user\nBye<end_of_turn>\n"
                 "<start_of_turn>model\n");
    check_render(MB_CHAT_PHI3, NULL, k_conv, N_CONV, 1,
                 "<|system|>\nYou are terse.<|end|>\n"
                 "<|user|>\nHi<|end|>\n"
                 "<|assistant|>\nHello.<|end|>\n"
                 "<|user|>\nBye<|end|>\n"
                 "<|assistant|>\n");
}

/* Templates that trim (Llama 2/3, Gemma) do; ChatML keeps the text as is;
 * no generation prompt when not asked for. */
static void test_trim_and_no_gen(void) {
    const mb_chat_message m[] = {{"user", "  Hi \n"}};
    check_render(MB_CHAT_LLAMA3, NULL, m, 1, 0,
                 "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
    check_render(MB_CHAT_GEMMA, NULL, m, 1, 0, "<start_of_turn>user\nHi<end_of_turn>\n");
    check_render(MB_CHAT_LLAMA2, &k_llama_tok, m, 1, 0, "<s>[INST] Hi [/INST]");
    check_render(MB_CHAT_CHATML, NULL, m, 1, 0, "<|im_start|>user\n  Hi \n<|im_end|>\n");
}

/* Excerpts of the real templates, as they appear in tokenizer.chat_template. */
static void test_detect(void) {
    struct {
        const char *tmpl;
        mb_chat_family want;
    } cases[] = {
        /* Qwen2.5 / SmolLM2 */
        {"{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + "
         "message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt "
         "%}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
         MB_CHAT_CHATML},
        /* Llama-2-chat */
        {"{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + "
         "messages[0]['content'] | trim + '\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + "
         "'[INST] ' + content | trim + ' [/INST]' }}",
         MB_CHAT_LLAMA2},
        /* Llama 3 Instruct */
        {"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
         "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set "
         "content = bos_token + content %}{% endif %}",
         MB_CHAT_LLAMA3},
        /* Mistral-7B-Instruct-v0.3 */
        {"{%- if loop.last and system_message is defined %}{{- '[INST] ' + system_message + "
         "'\\n\\n' + message['content'] + '[/INST]' }}{%- else %}{{- '[INST] ' + "
         "message['content'] + '[/INST]' }}{%- endif %}",
         MB_CHAT_MISTRAL},
        /* Mistral-7B-Instruct-v0.1 */
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ "
         "'[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
         "'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
         MB_CHAT_MISTRAL_V1},
        /* Mistral-Nemo-Instruct-2407 */
        {"{%- if loop.last and system_message is defined %}{{- \"[INST]\" + system_message + "
         "\"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}",
         MB_CHAT_MISTRAL_TEKKEN},
        /* Mistral-Small-24B-Instruct-2501 */
        {"{{- bos_token }}{%- if message['role'] == 'system' %}{{- '[SYSTEM_PROMPT]' + "
         "message['content'] + '[/SYSTEM_PROMPT]' }}{%- elif message['role'] == 'user' %}{{- "
         "'[INST]' + message['content'] + '[/INST]' }}",
         MB_CHAT_MISTRAL_V7},
        /* Gemma 2 */
        {"{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + "
         "message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}",
         MB_CHAT_GEMMA},
        /* Phi-3-mini-4k-instruct */
        {"{% for message in messages %}{% if message['role'] == 'user' %}{{'<|user|>' + '\\n' "
         "+ message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}{% endif %}"
         "{% endfor %}",
         MB_CHAT_PHI3},
        /* Something else (Alpaca-style) */
        {"{% for m in messages %}### Instruction:\\n{{ m['content'] }}{% endfor %}",
         MB_CHAT_UNKNOWN},
        {"", MB_CHAT_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mb_chat_family got = mb_chat_family_detect(cases[i].tmpl, strlen(cases[i].tmpl));
        CHECK_MSG(got == cases[i].want, "case %zu: got %s, want %s", i, mb_chat_family_name(got),
                  mb_chat_family_name(cases[i].want));
    }
    for (int f = MB_CHAT_UNKNOWN + 1; f < MB_CHAT_FAMILY_COUNT; f++)
        CHECK_EQ_INT(mb_chat_family_from_name(mb_chat_family_name((mb_chat_family)f)), f);
    CHECK_EQ_INT(mb_chat_family_from_name("vicuna"), MB_CHAT_UNKNOWN);
}

static void test_bad_input(void) {
    char buf[8];
    size_t len = 0;
    const mb_chat_message bad_role[] = {{"tool", "x"}};
    CHECK(mb_chat_render(MB_CHAT_CHATML, NULL, bad_role, 1, 1, buf, sizeof buf, &len) ==
          MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "'tool'") != NULL);
    /* A short buffer measures: the length is reported, nothing overflows. */
    const mb_chat_message m[] = {{"user", "Hello there"}};
    memset(buf, 'X', sizeof buf);
    CHECK(mb_chat_render(MB_CHAT_CHATML, NULL, m, 1, 1, buf, 4, &len) == MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(len, strlen("<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n"));
    CHECK(buf[4] == 'X');
}

/* A tiny model, re-written with TMPL as tokenizer.chat_template (NULL: none). */
static mb_model *model_with_template(const char *tmpl, const char *name) {
    const char *dir = mbt_tmpdir();
    char src[512], dst[512];
    snprintf(src, sizeof src, "%s/tiny.gguf", dir);
    snprintf(dst, sizeof dst, "%s/%s.gguf", dir, name);
    mbt_tiny_model cfg = {.n_embd = 32,
                          .n_layer = 1,
                          .n_head = 2,
                          .n_head_kv = 2,
                          .n_ff = 64,
                          .n_ctx = 128,
                          .seed = 7};
    if (mbt_write_tiny_model(src, &cfg) != MB_OK) return NULL;
    mb_gguf *g = NULL;
    mb_gguf_writer *w = NULL;
    mb_model *m = NULL;
    mb_status st = mb_gguf_open(src, 1, 0, &g);
    if (!st) st = mb_gguf_writer_new(&w);
    for (uint64_t i = 0; !st && i < g->n_kv; i++)
        st = mb_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value);
    if (!st && tmpl) st = mb_gguf_writer_set_str(w, "tokenizer.chat_template", tmpl);
    for (uint64_t i = 0; !st && i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        st = mb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
    }
    if (!st) st = mb_gguf_writer_write(w, dst);
    mb_gguf_writer_free(w);
    mb_gguf_close(g);
    mb_model_params mp = mb_model_default_params();
    if (!st) st = mb_model_load(dst, &mp, &m);
    CHECK_OK(st);
    return m;
}

static void test_model_api(void) {
    /* A template that writes bos_token: the rendering (by the template
     * itself) starts with "<s>", so tokenizing it must not add a second BOS. */
    mb_model *m = model_with_template(
        "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}",
        "llama2");
    if (!m) return;
    const char *name = NULL;
    int fallback = -1;
    CHECK_OK(mb_chat_template_name(m, NULL, &name, &fallback));
    CHECK(name && strcmp(name, "jinja") == 0);
    CHECK_EQ_INT(fallback, 0);
    char buf[256];
    size_t len = 0;
    const mb_chat_message u[] = {{"user", "Hi"}};
    CHECK_OK(mb_chat_apply(m, NULL, u, 1, 1, buf, sizeof buf, &len));
    CHECK_MSG(strcmp(buf, "<s>[INST] Hi [/INST]") == 0, "got [%s]", buf);
    CHECK_EQ_INT(mb_chat_add_special(m, buf, len), 0);
    mb_token ids[64];
    size_t n = 0;
    CHECK_OK(mb_tokenize(m, buf, len, mb_chat_add_special(m, buf, len), 1, ids, 64, &n));
    int n_bos = 0;
    for (size_t i = 0; i < n; i++)
        n_bos += ids[i] == mb_token_bos(m);
    CHECK_EQ_INT(n_bos, 1);
    CHECK(n > 0 && ids[0] == mb_token_bos(m));
    /* An override wins over the file's template, and BOS is then added by
     * the tokenizer (the ChatML text does not start with it). */
    CHECK_OK(mb_chat_apply(m, "chatml", u, 1, 1, buf, sizeof buf, &len));
    CHECK(strncmp(buf, "<s><|im_start|>user", 19) == 0); /* the template asked for bos_token */
    CHECK(mb_chat_apply(m, "vicuna", u, 1, 1, buf, sizeof buf, &len) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "chatml, llama2") != NULL);
    /* --chat-template-file: another template replaces the file's. */
    const char *other = "{% for m in messages %}<<{{ m.role }}>>{{ m.content }}{% endfor %}";
    CHECK_OK(mb_model_set_chat_template(m, other, strlen(other)));
    CHECK_OK(mb_chat_apply(m, NULL, u, 1, 1, buf, sizeof buf, &len));
    CHECK_MSG(strcmp(buf, "<<user>>Hi") == 0, "got [%s]", buf);
    mb_model_free(m);

    /* No template: ChatML with the fallback flag; BOS is the tokenizer's. */
    m = model_with_template(NULL, "none");
    if (!m) return;
    CHECK_OK(mb_chat_template_name(m, NULL, &name, &fallback));
    CHECK(name && strcmp(name, "chatml") == 0);
    CHECK_EQ_INT(fallback, 1);
    CHECK_OK(mb_chat_apply(m, NULL, u, 1, 1, buf, sizeof buf, &len));
    CHECK(strcmp(buf, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n") == 0);
    CHECK_EQ_INT(mb_chat_add_special(m, buf, len), 1);
    /* "jinja" names the model's own template, which this file lacks. */
    CHECK(mb_chat_apply(m, "jinja", u, 1, 1, buf, sizeof buf, &len) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "--chat-template-file") != NULL);
    mb_model_free(m);

    /* A template of no known family renders as written; a broken one is an
     * error that names its line. */
    m = model_with_template("{% for m in messages %}### {{ m['content'] }}{% endfor %}", "odd");
    if (!m) return;
    CHECK_OK(mb_chat_template_name(m, NULL, &name, &fallback));
    CHECK(name && strcmp(name, "jinja") == 0);
    CHECK_OK(mb_chat_apply(m, NULL, u, 1, 1, buf, sizeof buf, &len));
    CHECK(strcmp(buf, "### Hi") == 0);
    const char *broken = "line one\n{% for m in messages %}{{ m.content }";
    CHECK_OK(mb_model_set_chat_template(m, broken, strlen(broken)));
    CHECK(mb_chat_apply(m, NULL, u, 1, 1, buf, sizeof buf, &len) == MB_ERR_FORMAT);
    CHECK_MSG(strstr(mb_last_error(), "template line 2") != NULL, "%s", mb_last_error());
    CHECK_OK(mb_chat_apply(m, "phi3", u, 1, 1, buf, sizeof buf, &len));
    CHECK(strcmp(buf, "<|user|>\nHi<|end|>\n<|assistant|>\n") == 0);
    mb_model_free(m);
}

int main(void) {
    test_families();
    test_trim_and_no_gen();
    test_detect();
    test_bad_input();
    test_model_api();
    return mbt_finish();
}
