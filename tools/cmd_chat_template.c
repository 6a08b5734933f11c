/* matchbox chat-template (MODEL | --file T.jinja) --messages CONV.json:
 * print the prompt a chat template renders, as Hugging Face renders it
 * (how users debug a template). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static void usage(FILE *f) {
    fputs("usage: matchbox chat-template (MODEL | --file T.jinja) --messages CONV.json\n"
          "                              [--tools TOOLS.json] [--no-generation-prompt]\n"
          "                              [--var k=v ...] [--now YYYY-MM-DDTHH:MM:SS]\n"
          "\n"
          "Print the prompt the model's chat template (tokenizer.chat_template), or the\n"
          "template in --file, renders for the conversation in CONV.json (a JSON array\n"
          "of messages: role, content, tool_calls, tool_call_id, name,\n"
          "reasoning_content), exactly, with nothing added.\n"
          "  --tools FILE            a JSON array of tools (else `tools` is undefined)\n"
          "  --no-generation-prompt  add_generation_prompt false (default true)\n"
          "  --var k=v               an extra variable; v is read as JSON when it parses\n"
          "                          (enable_thinking=false is the boolean), else a string.\n"
          "                          bos_token/eos_token come from the model's vocabulary,\n"
          "                          or from --var (default empty) with --file\n"
          "  --now TIME              the time strftime_now formats (default: now)\n",
          f);
}

/* --var k=v pairs into one JSON object. */
static char *vars_object(const char *const *vars, int n) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < n; i++) {
        const char *eq = strchr(vars[i], '=');
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - vars[i]), vars[i]);
        cJSON *v = cJSON_ParseWithOpts(eq + 1, NULL, 1);
        if (!v) v = cJSON_CreateString(eq + 1);
        cJSON_DeleteItemFromObjectCaseSensitive(o, key);
        cJSON_AddItemToObject(o, key, v);
    }
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

int cmd_chat_template(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL, *messages = NULL, *tools = NULL, *now = NULL;
    const char *vars[64];
    int n_vars = 0, add_gen = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--file")) {
            if (!(file = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--messages")) {
            if (!(messages = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--tools")) {
            if (!(tools = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--now")) {
            if (!(now = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--no-generation-prompt")) {
            add_gen = 0;
        } else if (!strcmp(a, "--var")) {
            const char *v = cli_value(argc, argv, &i);
            if (!v) return 1;
            if (!strchr(v, '=') || v[0] == '=') return cli_fail("--var wants k=v, got '%s'", v);
            if (n_vars == 64) return cli_fail("at most 64 --var");
            vars[n_vars++] = v;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox chat-template --help)", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (!model_path == !file) return cli_fail("give a MODEL or --file T.jinja (one of them)");
    if (!messages) return cli_fail("no --messages CONV.json given");
    int rc = 1;
    size_t len = 0;
    char *tmpl = NULL, *msgs = NULL, *tool_text = NULL, *var_text = NULL, *out = NULL;
    mb_model *m = NULL;
    if (file && !(tmpl = cli_read_all(file, &len))) goto done;
    if (!(msgs = cli_read_all(messages, &len))) goto done;
    if (tools && !(tool_text = cli_read_all(tools, &len))) goto done;
    if (!(var_text = vars_object(vars, n_vars))) {
        cli_fail("out of memory");
        goto done;
    }
    if (model_path) {
        mb_model_params mp = mb_model_default_params();
        mp.vocab_only = 1; /* the template and the special tokens are all it needs */
        if (mb_model_load(model_path, &mp, &m) != MB_OK) {
            cli_fail(NULL);
            goto done;
        }
    }
    mb_chat_render_params p = mb_chat_render_default_params();
    p.messages_json = msgs;
    p.tools_json = tool_text;
    p.vars_json = var_text;
    p.template_text = tmpl;
    p.template_len = tmpl ? strlen(tmpl) : 0;
    p.add_generation_prompt = add_gen;
    p.now = now;
    size_t out_len = 0;
    if (mb_chat_render_template(m, &p, &out, &out_len) != MB_OK) {
        cli_fail(NULL);
        goto done;
    }
    fwrite(out, 1, out_len, stdout);
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    free(out);
    free(var_text);
    free(tool_text);
    free(msgs);
    free(tmpl);
    mb_model_free(m);
    return rc;
}
