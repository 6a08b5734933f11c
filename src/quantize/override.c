/* Per-tensor type overrides: llama-quantize's --tensor-type PATTERN=TYPE,
 * --output-tensor-type and --token-embedding-type. A pattern is a POSIX
 * extended regular expression searched anywhere in the tensor name (as the
 * reference's std::regex_search does), so "attn_v" matches every layer's
 * attn_v.weight and "blk\.[0-3]\.ffn_down" the first four ffn_down. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "quantize/quantize.h"
#include "tensor/types.h"

enum { MAX_RULES = 256 };

typedef struct {
    regex_t re;
    uint32_t type;
    char *spec; /* for messages */
} rule;

struct mb_quant_overrides {
    rule rules[MAX_RULES];
    int n_rules;
    int output_type, embd_type; /* -1: the preset's */
};

mb_status mb_quant_overrides_new(mb_quant_overrides **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    (*out)->output_type = (*out)->embd_type = -1;
    return MB_OK;
}

void mb_quant_overrides_free(mb_quant_overrides *o) {
    if (!o) return;
    for (int i = 0; i < o->n_rules; i++) {
        regfree(&o->rules[i].re);
        free(o->rules[i].spec);
    }
    free(o);
}

/* A type a tensor can be written in: quantized types with an encoder, and
 * the float types. */
static mb_status parse_type(const char *name, const char *what, uint32_t *out) {
    const int t = mb_type_from_name(name);
    const mb_type_traits *tr = t >= 0 ? mb_type_get((uint32_t)t) : NULL;
    if (!tr || !tr->from_float)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "%s: '%s' is not a type matchbox can write (e.g. Q4_K, Q6_K, Q8_0, F16)",
                         what, name);
    *out = (uint32_t)t;
    return MB_OK;
}

mb_status mb_quant_overrides_add(mb_quant_overrides *o, const char *spec) {
    const char *eq = strrchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return mb_errorf(MB_ERR_INVALID_ARG, "--tensor-type '%s': expected PATTERN=TYPE", spec);
    if (o->n_rules == MAX_RULES)
        return mb_errorf(MB_ERR_INVALID_ARG, "more than %d --tensor-type rules", MAX_RULES);
    rule *r = &o->rules[o->n_rules];
    mb_status st = parse_type(eq + 1, "--tensor-type", &r->type);
    if (st) return st;
    r->spec = malloc((size_t)(eq - spec) + 1);
    if (!r->spec) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    memcpy(r->spec, spec, (size_t)(eq - spec));
    r->spec[eq - spec] = '\0';
    const int rc = regcomp(&r->re, r->spec, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &r->re, msg, sizeof msg);
        st = mb_errorf(MB_ERR_INVALID_ARG, "--tensor-type '%s': bad pattern: %s", spec, msg);
        free(r->spec);
        return st;
    }
    o->n_rules++;
    return MB_OK;
}

mb_status mb_quant_overrides_set_role(mb_quant_overrides *o, int output, const char *type) {
    uint32_t t;
    mb_status st = parse_type(type, output ? "--output-tensor-type" : "--token-embedding-type", &t);
    if (st) return st;
    if (output)
        o->output_type = (int)t;
    else
        o->embd_type = (int)t;
    return MB_OK;
}

int mb_quant_overrides_match(const mb_quant_overrides *o, const char *name, int has_output,
                             uint32_t *type) {
    if (!o) return 0;
    const int is_embd = strcmp(name, "token_embd.weight") == 0;
    /* As in the reference: the output type also names a tied embedding,
     * which is the output matrix of a model without output.weight. */
    if (o->output_type >= 0 && (strcmp(name, "output.weight") == 0 || (!has_output && is_embd))) {
        *type = (uint32_t)o->output_type;
        return 1;
    }
    if (o->embd_type >= 0 && is_embd && has_output) {
        *type = (uint32_t)o->embd_type;
        return 1;
    }
    for (int i = 0; i < o->n_rules; i++)
        if (regexec(&o->rules[i].re, name, 0, NULL, 0) == 0) {
            *type = o->rules[i].type;
            return 1;
        }
    return 0;
}

int mb_quant_overrides_count(const mb_quant_overrides *o) {
    return o ? o->n_rules + (o->output_type >= 0) + (o->embd_type >= 0) : 0;
}
