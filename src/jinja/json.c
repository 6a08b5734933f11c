/* JSON text into values, as Python's json.loads reads it: numbers with a
 * fraction or an exponent are floats, the others ints; objects keep their
 * key order (a repeated key keeps its first place and its last value). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "jinja/internal.h"

typedef struct {
    mb_jinja_ctx *c;
    const char *p, *end, *start;
    int depth;
} reader;

static mb_status bad(const reader *r, const char *what) {
    return mb_errorf(MB_ERR_FORMAT, "JSON: %s at byte %zu", what, (size_t)(r->p - r->start));
}

static void skip_ws(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            v |= (unsigned)(ch - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static void put_utf8(jbuf *b, unsigned cp) {
    char u[4];
    int n;
    if (cp < 0x80)
        u[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    jbuf_put(b, u, (size_t)n);
}

static mb_status read_string(reader *r, mb_jv **out) {
    r->p++; /* the opening quote */
    jbuf b = {0};
    mb_status st = MB_OK;
    while (!st) {
        if (r->p >= r->end) {
            st = bad(r, "unterminated string");
            break;
        }
        unsigned char ch = (unsigned char)*r->p;
        if (ch == '"') {
            r->p++;
            break;
        }
        if (ch < 0x20) {
            st = bad(r, "control character in a string");
            break;
        }
        if (ch != '\\') {
            jbuf_put(&b, r->p++, 1);
            continue;
        }
        if (r->end - r->p < 2) {
            st = bad(r, "unterminated escape");
            break;
        }
        char e = r->p[1];
        r->p += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (simple && e) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            jbuf_put(&b, &map[simple - "\"\\/bfnrt"], 1);
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || r->end - r->p < 4 || !hex4(r->p, &cp)) {
            st = bad(r, "bad escape");
            break;
        }
        r->p += 4;
        if (cp >= 0xD800 && cp < 0xDC00 && r->end - r->p >= 6 && r->p[0] == '\\' &&
            r->p[1] == 'u' && hex4(r->p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            r->p += 6;
        }
        put_utf8(&b, cp);
    }
    if (!st && b.failed) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    if (!st && !(*out = mb_jv_str(r->c, b.p ? b.p : "", b.n)))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    free(b.p);
    return st;
}

static mb_status read_number(reader *r, mb_jv **out) {
    const char *s = r->p;
    int is_float = 0;
    if (r->p < r->end && *r->p == '-') r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return bad(r, "bad number");
    while (r->p < r->end && ((*r->p >= '0' && *r->p <= '9') || strchr(".eE+-", *r->p))) {
        is_float |= *r->p == '.' || *r->p == 'e' || *r->p == 'E';
        r->p++;
    }
    char tmp[64];
    size_t n = (size_t)(r->p - s);
    if (n >= sizeof tmp) return bad(r, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    if (is_float) {
        double f = strtod(tmp, &end);
        *out = jv_float(r->c, f);
    } else {
        long long i = strtoll(tmp, &end, 10);
        *out = mb_jv_int(r->c, i);
    }
    if (*end) return bad(r, "bad number");
    return *out ? MB_OK : mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
}

static mb_status read_value(reader *r, mb_jv **out);

static mb_status read_container(reader *r, int is_obj, mb_jv **out) {
    if (++r->depth > 256) return bad(r, "nesting deeper than 256");
    r->p++;
    mb_jv *v = is_obj ? mb_jv_dict(r->c) : mb_jv_list(r->c);
    if (!v) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    skip_ws(r);
    const char close = is_obj ? '}' : ']';
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        *out = v;
        return MB_OK;
    }
    for (;;) {
        mb_jv *key = NULL, *item = NULL;
        mb_status st;
        skip_ws(r);
        if (is_obj) {
            if (r->p >= r->end || *r->p != '"') return bad(r, "expected a string key");
            if ((st = read_string(r, &key))) return st;
            skip_ws(r);
            if (r->p >= r->end || *r->p != ':') return bad(r, "expected ':'");
            r->p++;
        }
        if ((st = read_value(r, &item))) return st;
        if (is_obj) {
            char *k = jv_strdup(r->c, key->s.p, key->s.n);
            if (!k || (st = mb_jv_dict_set(r->c, v, k, item))) return st ? st : MB_ERR_NO_MEMORY;
        } else if ((st = mb_jv_list_push(r->c, v, item))) {
            return st;
        }
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            break;
        }
        return bad(r, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    r->depth--;
    *out = v;
    return MB_OK;
}

static mb_status read_value(reader *r, mb_jv **out) {
    skip_ws(r);
    if (r->p >= r->end) return bad(r, "unexpected end");
    const char ch = *r->p;
    if (ch == '{' || ch == '[') return read_container(r, ch == '{', out);
    if (ch == '"') return read_string(r, out);
    static const struct {
        const char *word;
        int kind;
    } words[] = {{"true", 1}, {"false", 0}, {"null", 2}};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(r->end - r->p) >= n && memcmp(r->p, words[i].word, n) == 0) {
            r->p += n;
            *out = words[i].kind == 2 ? mb_jv_none(r->c) : mb_jv_bool(r->c, words[i].kind);
            return MB_OK;
        }
    }
    return read_number(r, out);
}

mb_status mb_jv_from_json(mb_jinja_ctx *c, const char *json, size_t len, mb_jv **out) {
    reader r = {.c = c, .p = json, .end = json + len, .start = json};
    mb_status st = read_value(&r, out);
    if (st) return st;
    skip_ws(&r);
    if (r.p != r.end) return bad(&r, "trailing characters");
    return MB_OK;
}
