/* Fuzz the tool-call parser (tools/server/tool_parse.c): any bytes, as an
 * answer in each format, must split into a content and calls whose names
 * are non-empty and whose arguments are JSON objects; the text a stream
 * sends early (mb_tool_text_safe) must grow with the answer and be a
 * beginning of the final content. A broken promise abort()s. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/tools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1); /* the job's text is NUL-terminated */
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (int f = MB_TOOL_FORMAT_GENERIC; f <= MB_TOOL_FORMAT_MISTRAL; f++) {
        mb_tool_parse_result r;
        if (mb_tool_parse((mb_tool_format)f, text, size, &r)) continue; /* out of memory */
        if (!r.content || r.n_calls < 0) abort();
        for (int i = 0; i < r.n_calls; i++) {
            cJSON *a = cJSON_Parse(r.calls[i].arguments);
            if (!r.calls[i].name[0] || !cJSON_IsObject(a) || !r.calls[i].id[0]) abort();
            cJSON_Delete(a);
        }
        size_t last = 0, n = strlen(r.content);
        for (size_t k = 0; k <= size; k += 1 + k / 16) {
            size_t safe = mb_tool_text_safe((mb_tool_format)f, text, k);
            if (safe > k || safe < last) abort();
            /* Bytes after a NUL are not in the content's C string. */
            if (!memchr(text, '\0', safe) && (safe > n || memcmp(text, r.content, safe))) abort();
            last = safe;
        }
        mb_tool_parse_free(&r);
    }
    free(text);
    return 0;
}
