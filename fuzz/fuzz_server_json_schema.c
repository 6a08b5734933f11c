/* libFuzzer target for the JSON-schema compiler (tools/common): any bytes
 * that are JSON either compile to a GBNF grammar that mb_grammar_parse
 * accepts (the compiler's promise: a schema it takes is enforceable), or
 * are refused with a message. A broken promise traps: that is the
 * finding. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_schema.h"
#include "matchbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *schema = cJSON_ParseWithLength((const char *)data, size);
    if (!schema) return 0;
    char err[256];
    char *gbnf = mb_json_schema_to_gbnf(schema, err, sizeof err);
    cJSON_Delete(schema);
    if (!gbnf) {
        if (!err[0]) __builtin_trap();
        return 0;
    }
    mb_grammar *g = NULL;
    mb_status st = mb_grammar_parse(gbnf, strlen(gbnf), NULL, &g);
    /* A grammar past the parser's size caps is the one acceptable refusal. */
    if (st != MB_OK && !strstr(mb_last_error(), "more than")) __builtin_trap();
    mb_grammar_free(g);
    free(gbnf);
    return 0;
}
