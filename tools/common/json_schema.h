/* JSON Schema to GBNF: the grammar of the JSON values a schema accepts,
 * for structured output (the server's response_format and tool
 * arguments, --json-schema in run and chat). Keywords that restrict
 * validity and are not implemented are refused by name, never ignored;
 * annotations (title, description, default, examples, $schema, $id,
 * $comment, ...) are ignored. The grammar may generate fewer values than
 * the schema accepts (objects get no properties beyond those declared
 * unless they declare none; tuples get all their prefixItems), never a
 * value the schema refuses (oneOf: when its branches overlap, a value may
 * match several). */
#ifndef MB_TOOLS_JSON_SCHEMA_H
#define MB_TOOLS_JSON_SCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* GBNF for values valid against SCHEMA (a cJSON tree). NULL on error,
 * with ERR naming the keyword or the problem ("unsupported keyword
 * 'patternProperties' at /properties/a"); the result is malloc'd. */
char *mb_json_schema_to_gbnf(const cJSON *schema, char *err, size_t err_cap);

/* GBNF for any JSON object (response_format json_object). */
const char *mb_json_object_gbnf(void);

#endif
