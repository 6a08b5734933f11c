#include "format/llama2c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/checked.h"
#include "core/error.h"
#include "format/gguf.h"
#include "tensor/types.h"

#define V0_HEADER_BYTES 28u

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t rd_i32(const uint8_t *p) {
    uint32_t u = rd_u32(p);
    int32_t v;
    memcpy(&v, &u, sizeof v); /* two's complement reinterpretation, not a conversion */
    return v;
}

static float rd_f32(const uint8_t *p) {
    uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- checkpoint ------------------------------------------------------ */

static mb_status check_positive(const char *name, const char *what, int32_t v) {
    if (v <= 0)
        return mb_errorf(MB_ERR_FORMAT, "%s: %s is %d in the header; it must be positive", name,
                         what, v);
    return MB_OK;
}

/* Dimensions a llama transformer can have. vocab_size is already made
 * positive by the caller. */
static mb_status check_dims(const mb_llama2c_config *c, const char *name) {
    mb_status st;
    if ((st = check_positive(name, "dim", c->dim)) != MB_OK ||
        (st = check_positive(name, "hidden_dim", c->hidden_dim)) != MB_OK ||
        (st = check_positive(name, "n_layers", c->n_layers)) != MB_OK ||
        (st = check_positive(name, "n_heads", c->n_heads)) != MB_OK ||
        (st = check_positive(name, "n_kv_heads", c->n_kv_heads)) != MB_OK ||
        (st = check_positive(name, "seq_len", c->seq_len)) != MB_OK)
        return st;
    if (c->dim % c->n_heads != 0)
        return mb_errorf(MB_ERR_FORMAT, "%s: dim %d is not divisible by n_heads %d", name, c->dim,
                         c->n_heads);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return mb_errorf(MB_ERR_FORMAT, "%s: n_heads %d is not a multiple of n_kv_heads %d", name,
                         c->n_heads, c->n_kv_heads);
    /* RoPE rotates pairs of a head's dimensions; freq_cis stores head_size/2. */
    if ((c->dim / c->n_heads) % 2 != 0)
        return mb_errorf(MB_ERR_FORMAT, "%s: head size %d (dim %d / n_heads %d) is odd", name,
                         c->dim / c->n_heads, c->dim, c->n_heads);
    /* The GGUF names ids 0, 1, 2 as unk, bos and eos; they must exist. */
    if (c->vocab_size < 3)
        return mb_errorf(MB_ERR_FORMAT, "%s: vocab_size %d is below 3 (unk, bos, eos)", name,
                         c->vocab_size);
    return MB_OK;
}

/* Lays blocks end to end; any overflow makes the whole layout invalid. */
typedef struct {
    uint64_t pos;
    bool ok;
} walker;

static uint64_t take(walker *w, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t at = w->pos, n, bytes;
    if (!mb_mul_u64(a, b, &n) || !mb_mul_u64(n, c, &n) || !mb_mul_u64(n, 4, &bytes) ||
        !mb_add_u64(w->pos, bytes, &w->pos))
        w->ok = false;
    return at;
}

static void layout(const mb_llama2c_config *c, mb_llama2c_layout *at, walker *w) {
    uint64_t dim = (uint64_t)c->dim, hid = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers;
    uint64_t vocab = (uint64_t)c->vocab_size;
    uint64_t kv_dim = dim / (uint64_t)c->n_heads * (uint64_t)c->n_kv_heads;
    uint64_t half_head = dim / (uint64_t)c->n_heads / 2;
    memset(at, 0, sizeof *at);
    if (c->version == 0) {
        at->token_embd = take(w, vocab, dim, 1);
        at->rms_att = take(w, L, dim, 1);
    } else {
        /* v1 moved every norm to the front. */
        at->rms_att = take(w, L, dim, 1);
        at->rms_ffn = take(w, L, dim, 1);
        at->rms_final = take(w, dim, 1, 1);
        at->token_embd = take(w, vocab, dim, 1);
    }
    at->wq = take(w, L, dim, dim);
    at->wk = take(w, L, kv_dim, dim);
    at->wv = take(w, L, kv_dim, dim);
    at->wo = take(w, L, dim, dim);
    if (c->version == 0) at->rms_ffn = take(w, L, dim, 1);
    at->w1 = take(w, L, hid, dim);
    at->w2 = take(w, L, dim, hid);
    at->w3 = take(w, L, hid, dim);
    if (c->version == 0) {
        at->rms_final = take(w, dim, 1, 1);
        take(w, c->seq_len, half_head, 2); /* freq_cis real and imag: unused */
    }
    if (!c->shared_classifier) at->wcls = take(w, vocab, dim, 1);
}

static mb_status parse_header(const uint8_t *data, uint64_t size, const char *name,
                              mb_llama2c_config *c) {
    memset(c, 0, sizeof *c);
    if (size < V0_HEADER_BYTES)
        return mb_errorf(MB_ERR_FORMAT, "%s: %llu bytes is too short for a llama2.c header", name,
                         (unsigned long long)size);
    const uint8_t *p = data;
    if (rd_u32(data) == MB_LLAMA2C_MAGIC) {
        int32_t version = size >= 8 ? rd_i32(data + 4) : -1;
        if (version == 2)
            return mb_errorf(MB_ERR_UNSUPPORTED,
                             "%s: llama2.c version 2 (Q8_0) checkpoints are not supported; "
                             "export with --version 0 or 1 (fp32)",
                             name);
        if (version != 1)
            return mb_errorf(MB_ERR_UNSUPPORTED, "%s: unknown llama2.c checkpoint version %d", name,
                             version);
        if (size < MB_LLAMA2C_V1_HEADER)
            return mb_errorf(MB_ERR_FORMAT, "%s: %llu bytes is shorter than the 256-byte v1 header",
                             name, (unsigned long long)size);
        c->version = 1;
        c->header_bytes = MB_LLAMA2C_V1_HEADER;
        p = data + 8;
    } else {
        c->header_bytes = V0_HEADER_BYTES;
    }
    c->dim = rd_i32(p);
    c->hidden_dim = rd_i32(p + 4);
    c->n_layers = rd_i32(p + 8);
    c->n_heads = rd_i32(p + 12);
    c->n_kv_heads = rd_i32(p + 16);
    int32_t vocab = rd_i32(p + 20);
    c->seq_len = rd_i32(p + 24);
    if (c->version == 0) {
        /* The sign is the shared-classifier flag; INT32_MIN has no positive twin. */
        if (vocab == 0 || vocab == INT32_MIN)
            return mb_errorf(MB_ERR_FORMAT, "%s: vocab_size %d in the header is invalid", name,
                             vocab);
        c->shared_classifier = vocab > 0;
        c->vocab_size = vocab > 0 ? vocab : -vocab;
    } else {
        uint8_t shared = p[28];
        if (shared > 1)
            return mb_errorf(MB_ERR_FORMAT, "%s: shared_classifier flag is %u; must be 0 or 1",
                             name, shared);
        c->shared_classifier = shared == 1;
        c->vocab_size = vocab;
        if (vocab <= 0)
            return mb_errorf(MB_ERR_FORMAT,
                             "%s: vocab_size is %d in the header; it must be positive", name,
                             vocab);
    }
    return check_dims(c, name);
}

mb_status mb_llama2c_parse(const uint8_t *data, uint64_t size, const char *name,
                           mb_llama2c_config *cfg, mb_llama2c_layout *at) {
    mb_status st = parse_header(data, size, name, cfg);
    if (st != MB_OK) return st;
    walker w = {cfg->header_bytes, true};
    layout(cfg, at, &w);
    if (!w.ok)
        return mb_errorf(MB_ERR_FORMAT, "%s: the header's dimensions imply more than 2^64 bytes",
                         name);
    cfg->file_bytes = w.pos;
    if (size != w.pos)
        return mb_errorf(MB_ERR_FORMAT,
                         "%s: file has %llu bytes but the v%d header (dim %d, hidden_dim %d, "
                         "n_layers %d, n_heads %d, n_kv_heads %d, vocab_size %d%s, seq_len %d) "
                         "implies %llu: %s",
                         name, (unsigned long long)size, cfg->version, cfg->dim, cfg->hidden_dim,
                         cfg->n_layers, cfg->n_heads, cfg->n_kv_heads, cfg->vocab_size,
                         cfg->shared_classifier ? " shared" : " + separate classifier",
                         cfg->seq_len, (unsigned long long)w.pos,
                         size < w.pos ? "truncated" : "trailing bytes");
    return MB_OK;
}

mb_status mb_llama2c_open(const char *path, mb_llama2c_checkpoint *ck) {
    memset(ck, 0, sizeof *ck);
    mb_status st = mb_file_map_open(&ck->map, path, 1, 0);
    if (st != MB_OK) return st;
    st = mb_llama2c_parse(ck->map.data, ck->map.size, path, &ck->cfg, &ck->at);
    if (st != MB_OK) mb_llama2c_close(ck);
    return st;
}

void mb_llama2c_close(mb_llama2c_checkpoint *ck) {
    if (!ck) return;
    if (ck->map.data) mb_file_map_close(&ck->map);
    memset(ck, 0, sizeof *ck);
}

/* ---- tokenizer ------------------------------------------------------- */

/* "<0xXX>" with two hex digits: SentencePiece's byte-fallback pieces. */
static bool is_byte_token(const uint8_t *s, uint32_t len) {
    static const char hex[] = "0123456789ABCDEFabcdef";
    return len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && s[3] && s[4] &&
           strchr(hex, s[3]) && strchr(hex, s[4]);
}

static int32_t token_type(uint32_t id, const uint8_t *s, uint32_t len) {
    if (id == 0) return MB_LLAMA2C_TOKEN_UNKNOWN;
    if (id == 1 || id == 2) return MB_LLAMA2C_TOKEN_CONTROL;
    return is_byte_token(s, len) ? MB_LLAMA2C_TOKEN_BYTE : MB_LLAMA2C_TOKEN_NORMAL;
}

/* The GGUF spelling of one llama2.c token text (see the header). */
static char *gguf_text(uint32_t id, const uint8_t *s, uint32_t len) {
    if ((id == 1 || id == 2) && len >= 2 && s[0] == '\n' && s[len - 1] == '\n') {
        s++;
        len -= 2;
    }
    uint64_t spaces = 0;
    for (uint32_t i = 0; i < len; i++)
        spaces += s[i] == ' ';
    /* Each space becomes the 3-byte U+2581; lengths stay far from overflow
     * because len < 2^31. */
    char *out = malloc((size_t)(len + 2 * spaces + 1));
    if (!out) return NULL;
    size_t o = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(out + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            out[o++] = (char)s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static mb_status vocab_alloc(mb_llama2c_vocab *v, uint32_t n) {
    v->tokens = calloc(n, sizeof *v->tokens);
    v->scores = calloc(n, sizeof *v->scores);
    v->types = calloc(n, sizeof *v->types);
    if (!v->tokens || !v->scores || !v->types)
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate a vocabulary of %u tokens", n);
    return MB_OK;
}

static mb_status vocab_parse(const uint8_t *data, uint64_t size, uint32_t n, const char *name,
                             mb_llama2c_vocab *v) {
    if (size < 4)
        return mb_errorf(MB_ERR_FORMAT, "%s: %llu bytes is too short for a tokenizer.bin", name,
                         (unsigned long long)size);
    v->max_token_length = rd_i32(data);
    if (v->max_token_length <= 0)
        return mb_errorf(MB_ERR_FORMAT, "%s: max_token_length is %d; it must be positive", name,
                         v->max_token_length);
    mb_status st = vocab_alloc(v, n);
    if (st != MB_OK) return st;
    uint64_t pos = 4;
    for (uint32_t id = 0; id < n; id++) {
        if (size - pos < 8)
            return mb_errorf(MB_ERR_FORMAT,
                             "%s: token %u: header at byte %llu runs past the end of the file "
                             "(%llu bytes); the checkpoint says the vocabulary has %u tokens",
                             name, id, (unsigned long long)pos, (unsigned long long)size, n);
        float score = rd_f32(data + pos);
        int32_t len = rd_i32(data + pos + 4);
        pos += 8;
        if (len < 0 || (uint64_t)len > size - pos)
            return mb_errorf(MB_ERR_FORMAT,
                             "%s: token %u: length %d at byte %llu runs past the end of the file "
                             "(%llu bytes)",
                             name, id, len, (unsigned long long)(pos - 4),
                             (unsigned long long)size);
        const uint8_t *s = data + pos;
        /* GGUF strings carry a length, but the writer API takes C strings. */
        if (memchr(s, '\0', (size_t)len))
            return mb_errorf(MB_ERR_FORMAT, "%s: token %u at byte %llu contains a NUL byte", name,
                             id, (unsigned long long)pos);
        v->tokens[id] = gguf_text(id, s, (uint32_t)len);
        if (!v->tokens[id])
            return mb_errorf(MB_ERR_NO_MEMORY, "%s: token %u: out of memory", name, id);
        v->scores[id] = score;
        v->types[id] = token_type(id, s, (uint32_t)len);
        v->n_tokens = id + 1;
        pos += (uint64_t)len;
    }
    if (pos != size)
        return mb_errorf(MB_ERR_FORMAT,
                         "%s: %llu bytes left after token %u; the checkpoint says the vocabulary "
                         "has %u tokens, the tokenizer seems to have more",
                         name, (unsigned long long)(size - pos), n - 1, n);
    return MB_OK;
}

mb_status mb_llama2c_vocab_parse(const uint8_t *data, uint64_t size, uint32_t n_tokens,
                                 const char *name, mb_llama2c_vocab *v) {
    memset(v, 0, sizeof *v);
    if (n_tokens == 0) return mb_errorf(MB_ERR_INVALID_ARG, "%s: vocabulary size is 0", name);
    mb_status st = vocab_parse(data, size, n_tokens, name, v);
    if (st != MB_OK) mb_llama2c_vocab_free(v);
    return st;
}

mb_status mb_llama2c_vocab_load(const char *path, uint32_t n_tokens, mb_llama2c_vocab *v) {
    mb_file_map map;
    memset(v, 0, sizeof *v);
    mb_status st = mb_file_map_open(&map, path, 1, 0);
    if (st != MB_OK) return st;
    st = mb_llama2c_vocab_parse(map.data, map.size, n_tokens, path, v);
    mb_file_map_close(&map);
    return st;
}

void mb_llama2c_vocab_free(mb_llama2c_vocab *v) {
    if (!v) return;
    if (v->tokens)
        for (uint32_t i = 0; i < v->n_tokens; i++)
            free(v->tokens[i]);
    free(v->tokens);
    free(v->scores);
    free(v->types);
    memset(v, 0, sizeof *v);
}

/* ---- GGUF output ----------------------------------------------------- */

typedef struct {
    mb_gguf_writer *w;
    const uint8_t *base;
    char (*names)[64]; /* kept alive until the write, whatever the writer copies */
    uint32_t n;
    mb_llama2c_convert_stats *stats;
} tensor_sink;

static mb_status add_f32(tensor_sink *t, const char *name, uint64_t offset, uint64_t ne0,
                         uint64_t ne1) {
    uint64_t ne[2] = {ne0, ne1};
    uint64_t n = ne0 * ne1; /* both fit: the layout walk checked the whole block */
    snprintf(t->names[t->n], sizeof t->names[t->n], "%s", name);
    mb_status st = mb_gguf_writer_add_tensor(t->w, t->names[t->n], MB_TYPE_F32, ne1 == 1 ? 1 : 2,
                                             ne, t->base + offset, n * 4);
    if (st != MB_OK) return st;
    t->n++;
    t->stats->n_params += n;
    t->stats->tensor_bytes += n * 4;
    return MB_OK;
}

/* The tensor order of ../shared/models/stories260K.gguf, so a converted file
 * lines up with it tensor by tensor. */
static mb_status add_tensors(tensor_sink *t, const mb_llama2c_config *c,
                             const mb_llama2c_layout *at) {
    uint64_t dim = (uint64_t)c->dim, hid = (uint64_t)c->hidden_dim;
    uint64_t vocab = (uint64_t)c->vocab_size;
    uint64_t kv_dim = dim / (uint64_t)c->n_heads * (uint64_t)c->n_kv_heads;
    mb_status st;
    if ((st = add_f32(t, "token_embd.weight", at->token_embd, dim, vocab)) != MB_OK ||
        (st = add_f32(t, "output_norm.weight", at->rms_final, dim, 1)) != MB_OK)
        return st;
    /* A shared classifier is left out: llama.cpp ties output to token_embd. */
    if (!c->shared_classifier && (st = add_f32(t, "output.weight", at->wcls, dim, vocab)) != MB_OK)
        return st;
    for (uint64_t l = 0; l < (uint64_t)c->n_layers; l++) {
        struct {
            const char *suffix;
            uint64_t block, ne0, ne1;
        } m[] = {
            {"attn_q", at->wq, dim, dim},       {"attn_k", at->wk, dim, kv_dim},
            {"attn_v", at->wv, dim, kv_dim},    {"attn_output", at->wo, dim, dim},
            {"attn_norm", at->rms_att, dim, 1}, {"ffn_gate", at->w1, dim, hid},
            {"ffn_down", at->w2, hid, dim},     {"ffn_up", at->w3, dim, hid},
            {"ffn_norm", at->rms_ffn, dim, 1},
        };
        for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%llu.%s.weight", (unsigned long long)l, m[i].suffix);
            uint64_t offset = m[i].block + l * m[i].ne0 * m[i].ne1 * 4;
            if ((st = add_f32(t, name, offset, m[i].ne0, m[i].ne1)) != MB_OK) return st;
        }
    }
    return MB_OK;
}

static mb_status set_metadata(mb_gguf_writer *w, const mb_llama2c_config *c, const char *name,
                              const mb_llama2c_vocab *v) {
    mb_status st;
    /* Neither is in the checkpoint: llama2.c hard-codes RMS eps 1e-5 and RoPE base 1e4. */
#define SET(call)                                                                                  \
    if ((st = (call)) != MB_OK) return st
    SET(mb_gguf_writer_set_str(w, "general.architecture", "llama"));
    SET(mb_gguf_writer_set_str(w, "general.name", name));
    SET(mb_gguf_writer_set_u32(w, "general.file_type", 0)); /* ALL_F32 */
    SET(mb_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->seq_len));
    SET(mb_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim));
    SET(mb_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim));
    SET(mb_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layers));
    SET(mb_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads));
    SET(mb_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads));
    SET(mb_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)(c->dim / c->n_heads)));
    SET(mb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f));
    SET(mb_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f));
    SET(mb_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama"));
    SET(mb_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens,
                                   v->n_tokens));
    SET(mb_gguf_writer_set_arr(w, "tokenizer.ggml.scores", MB_GGUF_F32, v->scores, v->n_tokens));
    SET(mb_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", MB_GGUF_I32, v->types, v->n_tokens));
    SET(mb_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1));
    SET(mb_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2));
    SET(mb_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0));
#undef SET
    return MB_OK;
}

/* "dir/stories15M.bin" -> "stories15M". */
static char *name_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    char *s = malloc(len + 1);
    if (!s) return NULL;
    memcpy(s, base, len);
    s[len] = '\0';
    return s;
}

/* Writing the output over an input would rename a new file over one that is
 * still being read; it is almost surely a typo, so refuse it up front. */
static mb_status check_distinct(const char *in, const char *out) {
    struct stat a, b;
    if (stat(in, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return mb_errorf(MB_ERR_INVALID_ARG, "%s: output is the same file as the input %s", out,
                         in);
    return MB_OK;
}

mb_llama2c_convert_params mb_llama2c_convert_default_params(void) {
    return (mb_llama2c_convert_params){.name = NULL};
}

mb_status mb_llama2c_convert(const char *checkpoint_path, const char *tokenizer_path,
                             const char *out_path, const mb_llama2c_convert_params *params,
                             mb_llama2c_convert_stats *stats) {
    mb_llama2c_convert_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!checkpoint_path || !tokenizer_path || !out_path)
        return mb_errorf(MB_ERR_INVALID_ARG, "convert: a path is missing");
    mb_status st = check_distinct(checkpoint_path, out_path);
    if (st == MB_OK) st = check_distinct(tokenizer_path, out_path);
    if (st != MB_OK) return st;

    mb_llama2c_checkpoint ck;
    mb_llama2c_vocab vocab;
    memset(&vocab, 0, sizeof vocab);
    mb_gguf_writer *w = NULL;
    tensor_sink sink = {0};
    char *name = NULL;
    uint64_t max_tensors;
    if ((st = mb_llama2c_open(checkpoint_path, &ck)) != MB_OK) return st;
    stats->cfg = ck.cfg;
    st = mb_llama2c_vocab_load(tokenizer_path, (uint32_t)ck.cfg.vocab_size, &vocab);
    if (st != MB_OK) goto done;
    name = params && params->name ? strdup(params->name) : name_from_path(checkpoint_path);
    /* 9 tensors per layer plus three; n_layers < 2^31 keeps this in range. */
    max_tensors = (uint64_t)ck.cfg.n_layers * 9 + 3;
    sink.names = calloc(max_tensors, sizeof *sink.names);
    if (!name || !sink.names) {
        st = mb_errorf(MB_ERR_NO_MEMORY, "convert: out of memory");
        goto done;
    }
    if ((st = mb_gguf_writer_new(&w)) != MB_OK) goto done;
    sink.w = w;
    sink.base = ck.map.data;
    sink.stats = stats;
    if ((st = set_metadata(w, &ck.cfg, name, &vocab)) != MB_OK) goto done;
    if ((st = add_tensors(&sink, &ck.cfg, &ck.at)) != MB_OK) goto done;
    stats->n_tensors = sink.n;
    st = mb_gguf_writer_write(w, out_path);
done:
    mb_gguf_writer_free(w);
    free(sink.names);
    free(name);
    mb_llama2c_vocab_free(&vocab);
    mb_llama2c_close(&ck);
    return st;
}
