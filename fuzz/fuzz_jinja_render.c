/* Fuzz the Jinja engine: the input is a template, optionally followed by
 * "\n#VARS#\n" and a JSON object of variables. Any bytes must render or fail
 * with a message, within the limits (small here, so that loops end fast),
 * and without a crash, a leak or unbounded memory. A rendering longer than
 * the output limit is the finding (abort). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jinja/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *sep = "\n#VARS#\n";
    const char *d = (const char *)data, *split = NULL;
    for (size_t i = 0; i + 8 <= size && !split; i++)
        if (!memcmp(d + i, sep, 8)) split = d + i;
    size_t tlen = split ? (size_t)(split - d) : size;
    mb_jinja_ctx *c = mb_jinja_new();
    if (!c) return 0;
    mb_jv *vars = NULL;
    if (split && mb_jv_from_json(c, split + 8, size - tlen - 8, &vars) != MB_OK) vars = NULL;
    if (!vars) {
        vars = mb_jv_dict(c);
        mb_jv *msgs = mb_jv_list(c), *m = mb_jv_dict(c);
        mb_jv_dict_set(c, m, "role", mb_jv_str(c, "user", 4));
        mb_jv_dict_set(c, m, "content", mb_jv_str(c, "Hi", 2));
        mb_jv_list_push(c, msgs, m);
        mb_jv_dict_set(c, vars, "messages", msgs);
    }
    mb_jinja_limits lim = {.max_output = 1 << 16,
                           .max_steps = 200000,
                           .max_depth = 32,
                           .max_memory = 64 << 20,
                           .now = "2026-01-02T03:04:05"};
    char *out = NULL;
    size_t n = 0;
    if (mb_jinja_render(c, d, tlen, vars, &lim, &out, &n) == MB_OK && n > lim.max_output) abort();
    free(out);
    mb_jinja_free(c);
    return 0;
}
