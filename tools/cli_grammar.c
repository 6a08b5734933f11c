/* --grammar-file and --json-schema (run, chat): the grammar the output
 * must follow, compiled once; each generation sets it on its sampler
 * (a chat's every answer starts the grammar over). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/json_schema.h"
#include "options.h"

int cli_opts_grammar(const cli_opts *o, mb_grammar **out) {
    *out = NULL;
    if (!o->grammar_file && !o->json_schema_file) return 1;
    if (o->grammar_file && o->json_schema_file)
        return cli_fail("--grammar-file and --json-schema: give one of them"), 0;
    const char *path = o->grammar_file ? o->grammar_file : o->json_schema_file;
    size_t len = 0;
    char *text = cli_read_all(path, &len);
    if (!text) return cli_fail("cannot read '%s'", path), 0;
    if (o->json_schema_file) {
        cJSON *schema = cJSON_ParseWithLength(text, len);
        free(text);
        if (!schema) return cli_fail("%s: not valid JSON", path), 0;
        char err[256];
        text = mb_json_schema_to_gbnf(schema, err, sizeof err);
        cJSON_Delete(schema);
        if (!text) return cli_fail("%s: the JSON schema cannot be enforced: %s", path, err), 0;
        len = strlen(text);
    }
    mb_status st = mb_grammar_parse(text, len, NULL, out);
    free(text);
    if (st) return cli_fail("%s: %s", path, mb_last_error()), 0;
    return 1;
}
