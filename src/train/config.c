/* The training configuration: a key=value text file (docs/TRAINING.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/train.h"

void mb_train_config_default(mb_train_config *c) {
    memset(c, 0, sizeof *c);
    c->dim = 64;
    c->n_layers = 2;
    c->n_heads = 4;
    c->n_kv_heads = 4;
    c->ffn = 192;
    c->ctx = 64;
    c->batch = 8;
    c->grad_accum = 1;
    c->lr = 1e-3f;
    c->min_lr = 1e-4f;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->adam_eps = 1e-8f;
    c->weight_decay = 0.1f;
    c->clip = 1.0f;
    c->warmup = 100;
    c->steps = 1000;
    c->eval_every = 100;
    c->eval_batches = 4;
    c->ckpt_every = 0;
    c->seed = 1;
    c->tied = true;
    c->rope_base = 10000.0f;
    c->rms_eps = 1e-5f;
    c->init_std = 0.02f;
}

typedef enum { K_INT, K_FLOAT, K_U64, K_BOOL, K_PATH } key_kind;

typedef struct {
    const char *name;
    key_kind kind;
    size_t offset;
} key_def;

#define KEY(n, k)                                                                                  \
    { #n, k, offsetof(mb_train_config, n) }
static const key_def keys[] = {
    KEY(dim, K_INT),        KEY(n_layers, K_INT),     KEY(n_heads, K_INT),
    KEY(n_kv_heads, K_INT), KEY(ffn, K_INT),          KEY(ctx, K_INT),
    KEY(vocab, K_INT),      KEY(batch, K_INT),        KEY(grad_accum, K_INT),
    KEY(lr, K_FLOAT),       KEY(min_lr, K_FLOAT),     KEY(beta1, K_FLOAT),
    KEY(beta2, K_FLOAT),    KEY(adam_eps, K_FLOAT),   KEY(weight_decay, K_FLOAT),
    KEY(clip, K_FLOAT),     KEY(warmup, K_INT),       KEY(steps, K_INT),
    KEY(eval_every, K_INT), KEY(eval_batches, K_INT), KEY(ckpt_every, K_INT),
    KEY(seed, K_U64),       KEY(tied, K_BOOL),        KEY(rope_base, K_FLOAT),
    KEY(rms_eps, K_FLOAT),  KEY(init_std, K_FLOAT),   KEY(tokenizer, K_PATH),
};
#undef KEY

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = 0;
    return s;
}

static mb_status set_key(mb_train_config *c, const key_def *k, const char *v, const char *where) {
    void *dst = (char *)c + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->kind) {
    case K_INT: {
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < 0 || x > (1L << 30)) break;
        *(int *)dst = (int)x;
        return MB_OK;
    }
    case K_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || *end || end == v || *v == '-') break;
        *(uint64_t *)dst = x;
        return MB_OK;
    }
    case K_FLOAT: {
        float x = strtof(v, &end);
        if (errno || *end || end == v) break;
        *(float *)dst = x;
        return MB_OK;
    }
    case K_BOOL:
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
            *(bool *)dst = true;
            return MB_OK;
        }
        if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
            *(bool *)dst = false;
            return MB_OK;
        }
        break;
    case K_PATH:
        if (strlen(v) >= sizeof c->tokenizer)
            return mb_errorf(MB_ERR_INVALID_ARG, "%s: path too long", where);
        strcpy(c->tokenizer, v);
        return MB_OK;
    }
    return mb_errorf(MB_ERR_INVALID_ARG, "%s: bad value '%s' for %s", where, v, k->name);
}

mb_status mb_train_config_parse(mb_train_config *c, const char *text, const char *source) {
    int line_no = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1200], where[1300];
        line_no++;
        snprintf(where, sizeof where, "%s:%d", source, line_no);
        if (len >= sizeof line) return mb_errorf(MB_ERR_INVALID_ARG, "%s: line too long", where);
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) return mb_errorf(MB_ERR_INVALID_ARG, "%s: expected key=value, got '%s'", where, s);
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        const key_def *k = NULL;
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            if (!strcmp(keys[i].name, key)) k = &keys[i];
        if (!k) return mb_errorf(MB_ERR_INVALID_ARG, "%s: unknown key '%s'", where, key);
        mb_status st = set_key(c, k, val, where);
        if (st) return st;
    }
    return MB_OK;
}

mb_status mb_train_config_load(mb_train_config *c, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return mb_errorf(MB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int big = !feof(f);
    fclose(f);
    if (big) return mb_errorf(MB_ERR_INVALID_ARG, "%s: config larger than 64 KiB", path);
    buf[n] = 0;
    return mb_train_config_parse(c, buf, path);
}

mb_status mb_train_config_check(const mb_train_config *c) {
    if (c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->ffn <= 0 ||
        c->ctx <= 0 || c->vocab <= 0 || c->batch <= 0 || c->grad_accum <= 0)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "config: dim, n_layers, n_heads, n_kv_heads, ffn, ctx, vocab, batch and "
                         "grad_accum must be positive (vocab comes from tokenizer=)");
    if (c->dim % c->n_heads || (c->dim / c->n_heads) % 2)
        return mb_errorf(MB_ERR_INVALID_ARG, "config: dim %d must split into %d heads of even size",
                         c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "config: n_heads %d must be a multiple of n_kv_heads %d", c->n_heads,
                         c->n_kv_heads);
    /* Bound every buffer so size arithmetic cannot overflow. */
    double acts = (double)c->batch * c->ctx * ((double)c->vocab + 8.0 * c->ffn + 16.0 * c->dim) +
                  (double)c->batch * c->n_heads * c->ctx * c->ctx;
    if (c->dim > 65536 || c->ffn > 1 << 20 || c->ctx > 1 << 16 || c->n_layers > 4096 ||
        acts * c->n_layers > 1e13)
        return mb_errorf(MB_ERR_INVALID_ARG, "config: shape too large");
    if (!(c->lr > 0) || c->min_lr < 0 || c->min_lr > c->lr || !(c->beta1 >= 0 && c->beta1 < 1) ||
        !(c->beta2 >= 0 && c->beta2 < 1) || !(c->adam_eps > 0) || c->weight_decay < 0 ||
        c->clip < 0 || !(c->rope_base > 0) || !(c->rms_eps > 0) || !(c->init_std > 0))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "config: lr > 0, 0 <= min_lr <= lr, betas in [0,1), positive adam_eps, "
                         "rope_base, rms_eps and init_std, non-negative weight_decay and clip");
    return MB_OK;
}
