/* JSON Schema to GBNF (tools/common/json_schema.c): each supported
 * keyword's grammar accepts instances the schema accepts and refuses
 * ones it refuses; unsupported keywords are refused by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_schema.h"
#include "runtime/grammar.h"
#include "test_util.h"

/* 1 if G accepts all of TEXT. */
static int accepts(const mb_grammar *g, const char *text) {
    mb_garena a;
    CHECK(mb_garena_init(&a, 1 << 18, 1 << 16) == 0);
    mb_gset s = mb_gset_start(g, &a);
    mb_utf8_state u = {0, 0, 0};
    int ok = 1;
    for (const char *p = text; *p && ok; p++) {
        int f = mb_utf8_feed(&u, (uint8_t)*p);
        if (f < 0) ok = 0;
        if (f > 0) {
            s = mb_gset_advance(g, &a, s, u.cp);
            ok = s.n || s.complete;
        }
    }
    ok = ok && s.complete && !u.need;
    mb_garena_free(&a);
    return ok;
}

static mb_grammar *compile(const char *schema_json) {
    cJSON *schema = cJSON_Parse(schema_json);
    CHECK_MSG(schema, "bad test JSON: %s", schema_json);
    char err[256];
    char *gbnf = mb_json_schema_to_gbnf(schema, err, sizeof err);
    cJSON_Delete(schema);
    CHECK_MSG(gbnf, "schema %s refused: %s", schema_json, err);
    if (!gbnf) return NULL;
    mb_grammar *g = NULL;
    mb_status st = mb_grammar_parse(gbnf, strlen(gbnf), NULL, &g);
    CHECK_MSG(st == MB_OK, "its grammar does not parse: %s\n%s", mb_last_error(), gbnf);
    free(gbnf);
    return g;
}

/* SCHEMA's grammar accepts each of GOOD and refuses each of BAD
 * (NULL-terminated lists). */
static void check(const char *schema, const char *const *good, const char *const *bad) {
    mb_grammar *g = compile(schema);
    if (!g) return;
    for (; good && *good; good++)
        CHECK_MSG(accepts(g, *good), "%s refuses %s", schema, *good);
    for (; bad && *bad; bad++)
        CHECK_MSG(!accepts(g, *bad), "%s accepts %s", schema, *bad);
    mb_grammar_free(g);
}

static void refused(const char *schema_json, const char *want) {
    cJSON *schema = cJSON_Parse(schema_json);
    CHECK(schema != NULL);
    char err[256];
    char *gbnf = mb_json_schema_to_gbnf(schema, err, sizeof err);
    cJSON_Delete(schema);
    CHECK_MSG(!gbnf, "%s compiled", schema_json);
    CHECK_MSG(strstr(err, want), "error '%s' lacks '%s'", err, want);
    free(gbnf);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_types(void) {
    check("{\"type\":\"string\"}", L("\"\"", "\"a\\\"b\\u00e9\"", "\"\xc3\xa9\""), L("1", "\"a"));
    check("{\"type\":\"integer\"}", L("0", "-12", "123456"), L("1.5", "01", "\"1\""));
    check("{\"type\":\"number\"}", L("0", "-1.25", "3e10", "2.5E-3"), L(".5", "1.", "--1"));
    check("{\"type\":\"boolean\"}", L("true", "false"), L("1", "null"));
    check("{\"type\":\"null\"}", L("null"), L("0"));
    check("{\"type\":[\"string\",\"null\"]}", L("null", "\"x\""), L("1"));
    check("{}", L("{\"a\":[1,{}]}", "3", "\"s\""), L("{", "tru"));
    check("true", L("[]"), NULL);
    check("{\"type\":\"integer\",\"minimum\":0}", L("0", "42"), L("-1"));
    check("{\"type\":\"integer\",\"exclusiveMinimum\":0}", L("1", "42"), L("0", "-1"));
    check("{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", L("\"ab\"", "\"a\\nc\""),
          L("\"a\"", "\"abcd\""));
}

static void test_objects(void) {
    const char *s =
        "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
        "\"age\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":"
        "{\"type\":\"string\"}}},\"required\":[\"name\"],\"additionalProperties\":false}";
    check(s,
          L("{\"name\":\"a\"}", "{\"name\":\"a\",\"age\":3}", "{\"name\":\"a\",\"tags\":[]}",
            "{ \"name\": \"a\", \"age\": 3, \"tags\": [\"x\", \"y\"] }"),
          L("{}", "{\"age\":3}", "{\"name\":\"a\",\"other\":1}", "{\"name\":\"a\",}",
            "{\"age\":3,\"name\":\"a\"}"));
    /* Optional first, required last. */
    check("{\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"integer\"}},"
          "\"required\":[\"b\"]}",
          L("{\"b\":1}", "{\"a\":1,\"b\":2}"), L("{\"a\":1}", "{}", "{,\"b\":1}"));
    /* A map: no declared properties. */
    check("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
          L("{}", "{\"x\":1,\"y\":2}"), L("{\"x\":\"1\"}"));
    check("{\"type\":\"object\",\"additionalProperties\":false}", L("{}"), L("{\"a\":1}"));
    /* Nested. */
    check("{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"object\",\"properties\":"
          "{\"x\":{\"type\":\"number\"}},\"required\":[\"x\"]}},\"required\":[\"p\"]}",
          L("{\"p\":{\"x\":1.5}}"), L("{\"p\":{}}", "{\"p\":1}"));
    /* A property name that needs escaping. */
    check("{\"properties\":{\"a\\\"b\":{\"const\":1}},\"required\":[\"a\\\"b\"]}",
          L("{\"a\\\"b\":1}"), L("{\"ab\":1}"));
}

static void test_arrays_enums(void) {
    check("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}",
          L("[1,2]", "[1, 2, 3]"), L("[]", "[1]", "[1,2,3,4]", "[1,\"2\"]"));
    check("{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", L("[]", "[1]"), L("[1,]"));
    check("{\"type\":\"array\",\"maxItems\":0}", L("[]"), L("[1]"));
    check("{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],"
          "\"items\":false}",
          L("[\"a\",1]"), L("[\"a\"]", "[1,\"a\"]", "[\"a\",1,2]"));
    check("{\"enum\":[\"red\",\"green\",3,null]}", L("\"red\"", "3", "null"), L("\"blue\"", "4"));
    check("{\"type\":\"string\",\"enum\":[\"a\",1]}", L("\"a\""), L("1"));
    check("{\"const\":{\"k\":[1,true]}}", L("{\"k\":[1,true]}"), L("{\"k\":[1]}"));
}

static void test_refs_combiners(void) {
    const char *tree = "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":"
                       "\"integer\"},\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/"
                       "node\"}}},\"required\":[\"v\"],\"additionalProperties\":false}},"
                       "\"$ref\":\"#/$defs/node\"}";
    check(tree, L("{\"v\":1}", "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[{\"v\":3}]}]}"),
          L("{\"v\":1,\"kids\":[{}]}"));
    check("{\"definitions\":{\"n\":{\"type\":\"integer\"}},\"type\":\"array\",\"items\":{\"$ref\":"
          "\"#/definitions/n\"}}",
          L("[1,2]"), L("[\"x\"]"));
    check("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}",
          L("1", "\"a\""), L("\"ab\"", "true"));
    check("{\"oneOf\":[{\"const\":\"a\"},{\"const\":\"b\"}]}", L("\"a\"", "\"b\""), L("\"c\""));
    check("{\"allOf\":[{\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},"
          "{\"properties\":{\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}]}",
          L("{\"a\":1,\"b\":\"x\"}"), L("{\"a\":1}", "{\"b\":\"x\"}"));
    check("{\"type\":\"string\",\"format\":\"date\"}", L("\"2024-02-29\""),
          L("\"2024-13-01\"", "\"24-01-01\""));
    check("{\"type\":\"string\",\"format\":\"date-time\"}",
          L("\"2024-02-29T13:45:00Z\"", "\"2024-02-29T13:45:00.123+02:00\""),
          L("\"2024-02-29 13:45:00Z\""));
    check("{\"type\":\"string\",\"format\":\"uuid\"}",
          L("\"123e4567-e89b-12d3-a456-426614174000\""), L("\"123e4567e89b12d3a456426614174000\""));
    check("{\"type\":\"string\",\"format\":\"email\"}", L("\"ann.lee@example.com\""),
          L("\"ann\"", "\"@x.com\""));
    /* Annotations are ignored. */
    check(
        "{\"title\":\"T\",\"description\":\"d\",\"default\":1,\"examples\":[1],\"$schema\":"
        "\"https://json-schema.org/draft/2020-12/schema\",\"$comment\":\"c\",\"type\":\"integer\"}",
        L("1"), NULL);
}

static void test_refusals(void) {
    refused("{\"type\":\"object\",\"patternProperties\":{\"^a\":{}}}",
            "unsupported keyword 'patternProperties'");
    refused("{\"properties\":{\"a\":{\"type\":\"string\",\"pattern\":\"^x\"}}}",
            "unsupported keyword 'pattern' at /properties/a");
    refused("{\"type\":\"number\",\"maximum\":3}", "unsupported keyword 'maximum'");
    refused("{\"type\":\"integer\",\"minimum\":5}", "unsupported keyword 'minimum'");
    refused("{\"type\":\"array\",\"uniqueItems\":true}", "unsupported keyword 'uniqueItems'");
    refused("{\"not\":{}}", "unsupported keyword 'not'");
    refused("{\"type\":\"string\",\"format\":\"uri\"}", "unsupported keyword 'format'");
    refused("{\"$ref\":\"http://x/y.json\"}", "is not local");
    refused("{\"$ref\":\"#/$defs/missing\"}", "points to nothing");
    refused("{\"type\":\"strin\"}", "unknown type 'strin'");
    refused("false", "allows no value");
    refused("{\"anyOf\":[{\"type\":\"integer\"}],\"minimum\":1}",
            "unsupported keyword 'minimum' next to 'anyOf'");
    refused("{\"allOf\":[{\"type\":\"string\"}]}", "unsupported keyword 'type' in allOf");
    refused("{\"type\":\"array\",\"maxItems\":100000}", "'maxItems' above");
    refused("{\"properties\":{},\"required\":[\"x\"],\"additionalProperties\":false}",
            "required property 'x'");
    refused("{\"enum\":[]}", "'enum' must be a non-empty array");
    refused("{\"$ref\":\"#\"}", "refers to itself");
    refused(
        "{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/b\"}]},\"b\":{\"$ref\":\"#/$defs/a\"}},"
        "\"$ref\":\"#/$defs/a\"}",
        "refers to itself");
    refused("{\"const\":\"\xff\"}", "not valid UTF-8");
}

static void test_json_object(void) {
    const char *t = mb_json_object_gbnf();
    mb_grammar *g = NULL;
    CHECK_OK(mb_grammar_parse(t, strlen(t), NULL, &g));
    CHECK(accepts(g, "{\"a\": [1, {\"b\": null}]}"));
    CHECK(!accepts(g, "[1]"));
    mb_grammar_free(g);
}

int main(void) {
    test_types();
    test_objects();
    test_arrays_enums();
    test_refs_combiners();
    test_refusals();
    test_json_object();
    return mbt_finish();
}
