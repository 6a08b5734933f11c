/* A Jinja template engine for chat templates, rendering as Hugging Face's
 * transformers does: jinja2's ImmutableSandboxedEnvironment with
 * trim_blocks and lstrip_blocks, loop controls, the {% generation %} tag,
 * tojson as json.dumps(ensure_ascii=False), and the globals
 * raise_exception and strftime_now. The subset is what real templates use
 * (docs/USER_GUIDE.md lists it). It reads no files and no environment;
 * output size, steps and recursion are bounded, and every error names the
 * template line.
 *
 * Values live in an arena owned by a mb_jinja_ctx: build the variables
 * with the constructors or from JSON, render, then free the context. */
#ifndef MB_JINJA_JINJA_H
#define MB_JINJA_JINJA_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"

typedef struct mb_jinja_ctx mb_jinja_ctx;
typedef struct mb_jv mb_jv; /* a value: none, bool, int, float, string, list, dict, ... */

typedef struct {
    size_t max_output; /* bytes of output (0: 8 MiB) */
    long max_steps;    /* expression and statement evaluations (0: 20 million) */
    int max_depth;     /* nested macro calls (0: 64) */
    size_t max_memory; /* bytes of values the render may create (0: 256 MiB) */
    /* The time strftime_now formats, as "YYYY-MM-DDTHH:MM:SS" (local, naive);
     * NULL: the current local time. */
    const char *now;
} mb_jinja_limits;

mb_jinja_ctx *mb_jinja_new(void);
void mb_jinja_free(mb_jinja_ctx *c);

/* Constructors (the arena owns the results; NULL only if out of memory). */
mb_jv *mb_jv_none(mb_jinja_ctx *c);
mb_jv *mb_jv_bool(mb_jinja_ctx *c, int b);
mb_jv *mb_jv_int(mb_jinja_ctx *c, long long i);
mb_jv *mb_jv_str(mb_jinja_ctx *c, const char *s, size_t n);
mb_jv *mb_jv_list(mb_jinja_ctx *c);
mb_jv *mb_jv_dict(mb_jinja_ctx *c);
mb_status mb_jv_list_push(mb_jinja_ctx *c, mb_jv *list, mb_jv *v);
mb_status mb_jv_dict_set(mb_jinja_ctx *c, mb_jv *dict, const char *key, mb_jv *v);

/* Copy every key of dict SRC into dict DST (MB_ERR_INVALID_ARG when SRC
 * is not a dict). */
mb_status mb_jv_dict_merge(mb_jinja_ctx *c, mb_jv *dst, const mb_jv *src);

/* JSON text (RFC 8259; numbers with '.', 'e' or 'E' become floats, as
 * Python's json does) into a value. Errors name the byte offset. */
mb_status mb_jv_from_json(mb_jinja_ctx *c, const char *json, size_t len, mb_jv **out);

/* Render TEMPLATE (LEN bytes) with the variables of dict VARS. On success
 * *out is a NUL-terminated malloc'd string of *out_len bytes (the caller
 * frees it). A template error returns MB_ERR_FORMAT with "template line N:
 * reason" (for raise_exception, its own message) in mb_last_error(). */
mb_status mb_jinja_render(mb_jinja_ctx *c, const char *tmpl, size_t len, const mb_jv *vars,
                          const mb_jinja_limits *limits, char **out, size_t *out_len);

#endif
