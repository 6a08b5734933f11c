/* The vocabulary: token texts, scores and types, the text -> id table, and
 * decoding ids back to text. Encoding lives in spm.c and bpe.c, GGUF
 * loading in vocab_load.c. */
#include "tokenizer/vocab_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"

/* U+2581 LOWER ONE EIGHTH BLOCK: SentencePiece's stand-in for a space. */
static const char k_space_mark[3] = {'\xE2', '\x96', '\x81'};

static uint64_t hash_bytes(const char *s, size_t len) {
    /* FNV-1a: short keys, no need for anything stronger. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

mb_token mb_vocab_lookup(const mb_vocab *v, const char *s, size_t len) {
    size_t i = (size_t)hash_bytes(s, len) & v->slot_mask;
    for (;;) {
        int32_t id = v->slots[i];
        if (id < 0) return -1;
        if (v->text_len[id] == len && memcmp(mb_vocab_text(v, id), s, len) == 0) return id;
        i = (i + 1) & v->slot_mask;
    }
}

/* Duplicate texts map to the highest id, as in llama.cpp, so both engines
 * agree on which duplicate a merge produces. */
static void table_insert(mb_vocab *v, mb_token id) {
    const char *s = mb_vocab_text(v, id);
    size_t len = v->text_len[id];
    size_t i = (size_t)hash_bytes(s, len) & v->slot_mask;
    while (v->slots[i] >= 0) {
        int32_t other = v->slots[i];
        if (v->text_len[other] == len && memcmp(mb_vocab_text(v, other), s, len) == 0) break;
        i = (i + 1) & v->slot_mask;
    }
    v->slots[i] = id;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte of a "<0xXX>" text, or -1. */
static int byte_of_text(const char *s, size_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static void build_byte_tokens(mb_vocab *v) {
    for (int b = 0; b < 256; b++)
        v->byte_token[b] = -1;
    for (mb_token id = 0; id < v->n_tokens; id++) {
        if (v->types[id] != MB_TOKEN_BYTE) continue;
        int b = byte_of_text(mb_vocab_text(v, id), v->text_len[id]);
        if (b >= 0 && v->byte_token[b] < 0) v->byte_token[b] = id;
    }
    /* Without a <0xXX> token, a token that is the single byte itself will do. */
    for (int b = 0; b < 256; b++) {
        if (v->byte_token[b] >= 0) continue;
        char c = (char)b;
        mb_token id = mb_vocab_lookup(v, &c, 1);
        if (id >= 0 && mb_token_type_is_text(v->types[id])) v->byte_token[b] = id;
    }
}

typedef struct {
    uint32_t len;
    mb_token id;
} special_entry;

static int cmp_special(const void *a, const void *b) {
    const special_entry *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static mb_status build_specials(mb_vocab *v) {
    int n = 0;
    for (mb_token id = 0; id < v->n_tokens; id++)
        if (mb_token_type_is_special(v->types[id]) && v->text_len[id] > 0) n++;
    v->n_specials = n;
    if (n == 0) return MB_OK;
    special_entry *tmp = malloc((size_t)n * sizeof *tmp);
    v->specials = malloc((size_t)n * sizeof *v->specials);
    if (!tmp || !v->specials) {
        free(tmp);
        return mb_errorf(MB_ERR_NO_MEMORY, "vocab: no memory for %d special tokens", n);
    }
    n = 0;
    for (mb_token id = 0; id < v->n_tokens; id++)
        if (mb_token_type_is_special(v->types[id]) && v->text_len[id] > 0)
            tmp[n++] = (special_entry){v->text_len[id], id};
    /* Longest first, so "<|im_end|>" is found before a "<|im" it contains. */
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_special);
    for (int i = 0; i < n; i++)
        v->specials[i] = tmp[i].id;
    free(tmp);
    return MB_OK;
}

static mb_status check_id(const char *what, mb_token id, int n) {
    if (id < -1 || id >= n)
        return mb_errorf(MB_ERR_INVALID_ARG, "vocab: %s id %d is out of range (%d tokens)", what,
                         (int)id, n);
    return MB_OK;
}

static mb_status copy_texts(mb_vocab *v, const mb_vocab_init *init) {
    uint64_t total = 0;
    for (int i = 0; i < init->n_tokens; i++) {
        size_t len = init->lens[i];
        if (len > 0 && !init->texts[i])
            return mb_errorf(MB_ERR_INVALID_ARG, "vocab: token %d has no text", i);
        if (len > UINT32_MAX || !mb_add_u64(total, (uint64_t)len + 1, &total))
            return mb_errorf(MB_ERR_INVALID_ARG, "vocab: token %d: text of %zu bytes is too long",
                             i, len);
    }
    if (total > SIZE_MAX) return mb_errorf(MB_ERR_NO_MEMORY, "vocab: texts too large");
    v->blob = malloc((size_t)total);
    if (!v->blob)
        return mb_errorf(MB_ERR_NO_MEMORY, "vocab: no memory for %llu bytes of text",
                         (unsigned long long)total);
    size_t off = 0;
    for (int i = 0; i < init->n_tokens; i++) {
        size_t len = init->lens[i];
        if (len > 0) memcpy(v->blob + off, init->texts[i], len);
        v->blob[off + len] = '\0';
        v->text_off[i] = off;
        v->text_len[i] = (uint32_t)len;
        off += len + 1;
    }
    return MB_OK;
}

/* Without a type array: <0xXX> texts are bytes, bos/eos control, unk unknown,
 * everything else normal (what llama2.c's tokenizer.bin implies). */
static void derive_types(mb_vocab *v) {
    for (mb_token id = 0; id < v->n_tokens; id++) {
        int b = byte_of_text(mb_vocab_text(v, id), v->text_len[id]);
        v->types[id] = b >= 0 ? MB_TOKEN_BYTE : MB_TOKEN_NORMAL;
    }
    if (v->bos >= 0) v->types[v->bos] = MB_TOKEN_CONTROL;
    if (v->eos >= 0) v->types[v->eos] = MB_TOKEN_CONTROL;
    if (v->unk >= 0) v->types[v->unk] = MB_TOKEN_UNKNOWN;
}

static mb_status build_tables(mb_vocab *v, const mb_vocab_init *init) {
    int n = init->n_tokens;
    if (init->types) {
        for (int i = 0; i < n; i++) {
            if (init->types[i] < MB_TOKEN_UNDEFINED || init->types[i] > MB_TOKEN_BYTE)
                return mb_errorf(MB_ERR_INVALID_ARG,
                                 "vocab: token %d has type %d, which is not a token type (0..6)", i,
                                 (int)init->types[i]);
            v->types[i] = (uint8_t)init->types[i];
        }
    } else {
        derive_types(v);
    }
    for (int i = 0; i < n; i++)
        v->scores[i] = init->scores ? init->scores[i] : 0.0f;
    size_t n_slots = 16;
    while (n_slots < (size_t)n * 2)
        n_slots *= 2;
    v->slots = malloc(n_slots * sizeof *v->slots);
    if (!v->slots) return mb_errorf(MB_ERR_NO_MEMORY, "vocab: no memory for the token table");
    memset(v->slots, 0xFF, n_slots * sizeof *v->slots); /* all -1 */
    v->slot_mask = n_slots - 1;
    for (mb_token id = 0; id < n; id++)
        table_insert(v, id);
    build_byte_tokens(v);
    /* Types may change here, so before the special-token list is made. */
    mb_vocab_detect_specials(v);
    mb_status st = build_specials(v);
    if (st != MB_OK) return st;
    mb_vocab_set_strip(v, init->name, init->name_len);
    return MB_OK;
}

mb_status mb_vocab_build(const mb_vocab_init *init, mb_vocab **out) {
    *out = NULL;
    int n = init->n_tokens;
    if (n <= 0) return mb_errorf(MB_ERR_INVALID_ARG, "vocab: no tokens");
    if (!init->texts || !init->lens)
        return mb_errorf(MB_ERR_INVALID_ARG, "vocab: NULL token array");
    const char *names[] = {"bos", "eos", "unk", "sep", "pad", "eot", "eom"};
    const mb_token ids[] = {init->bos, init->eos, init->unk, init->sep,
                            init->pad, init->eot, init->eom};
    for (int i = 0; i < 7; i++) {
        mb_status st = check_id(names[i], ids[i], n);
        if (st != MB_OK) return st;
    }
    for (int f = 0; init->fim && f < MB_FIM_COUNT; f++) {
        mb_status st = check_id("fim", init->fim[f], n);
        if (st != MB_OK) return st;
    }
    if (init->add_bos && init->bos < 0)
        return mb_errorf(MB_ERR_INVALID_ARG, "vocab: add_bos is set but there is no BOS token");
    if (init->add_eos && init->eos < 0)
        return mb_errorf(MB_ERR_INVALID_ARG, "vocab: add_eos is set but there is no EOS token");

    mb_vocab *v = calloc(1, sizeof *v);
    if (!v) return mb_errorf(MB_ERR_NO_MEMORY, "vocab: no memory");
    v->n_tokens = n;
    v->bos = init->bos;
    v->eos = init->eos;
    v->unk = init->unk;
    v->sep = init->sep;
    v->pad = init->pad;
    v->eot = init->eot;
    v->eom = init->eom;
    for (int f = 0; f < MB_FIM_COUNT; f++)
        v->fim[f] = init->fim ? init->fim[f] : -1;
    v->add_bos = init->add_bos;
    v->add_eos = init->add_eos;
    v->add_space_prefix = init->add_space_prefix;
    snprintf(v->model, sizeof v->model, "%s", init->model ? init->model : "llama");
    v->text_off = malloc((size_t)n * sizeof *v->text_off);
    v->text_len = malloc((size_t)n * sizeof *v->text_len);
    v->scores = malloc((size_t)n * sizeof *v->scores);
    v->types = malloc((size_t)n);
    v->strip = calloc((size_t)n, 1);
    mb_status st = MB_OK;
    if (!v->text_off || !v->text_len || !v->scores || !v->types || !v->strip)
        st = mb_errorf(MB_ERR_NO_MEMORY, "vocab: no memory for %d tokens", n);
    if (st == MB_OK) st = copy_texts(v, init);
    if (st == MB_OK) st = build_tables(v, init);
    if (st == MB_OK && strcmp(v->model, "gpt2") == 0) st = mb_bpe_attach(v, init);
    if (st != MB_OK) {
        mb_vocab_free(v);
        return st;
    }
    *out = v;
    return MB_OK;
}

mb_status mb_vocab_new_spm(int n, const char *const *tokens, const size_t *lens,
                           const float *scores, const int32_t *types, mb_token bos, mb_token eos,
                           mb_token unk, mb_vocab **out) {
    mb_vocab_init init = {
        .n_tokens = n,
        .texts = tokens,
        .lens = lens,
        .scores = scores,
        .types = types,
        .bos = bos,
        .eos = eos,
        .unk = unk,
        .sep = -1,
        .pad = -1,
        .eot = -1,
        .eom = -1,
        .add_bos = bos >= 0,
        .add_eos = false,
        .add_space_prefix = true,
        .model = "llama",
    };
    return mb_vocab_build(&init, out);
}

void mb_vocab_free(mb_vocab *v) {
    if (!v) return;
    free(v->blob);
    free(v->text_off);
    free(v->text_len);
    free(v->scores);
    free(v->types);
    free(v->strip);
    free(v->slots);
    free(v->specials);
    mb_bpe_free(v->bpe);
    free(v);
}

int mb_vocab_n_tokens(const mb_vocab *v) {
    return v->n_tokens;
}
const char *mb_vocab_model_name(const mb_vocab *v) {
    return v->model;
}
mb_token mb_vocab_bos(const mb_vocab *v) {
    return v->bos;
}
mb_token mb_vocab_eos(const mb_vocab *v) {
    return v->eos;
}
mb_token mb_vocab_pad(const mb_vocab *v) {
    return v->pad;
}
mb_token mb_vocab_eot(const mb_vocab *v) {
    return v->eot;
}
mb_token mb_vocab_eom(const mb_vocab *v) {
    return v->eom;
}
int mb_vocab_token_strip(const mb_vocab *v, mb_token id) {
    return id >= 0 && id < v->n_tokens ? v->strip[id] : 0;
}
bool mb_vocab_add_bos(const mb_vocab *v) {
    return v->add_bos;
}
bool mb_vocab_add_eos(const mb_vocab *v) {
    return v->add_eos;
}
bool mb_vocab_add_space_prefix(const mb_vocab *v) {
    return v->add_space_prefix;
}
void mb_vocab_set_add_space_prefix(mb_vocab *v, bool on) {
    v->add_space_prefix = on;
}

mb_status mb_vocab_set_add_special(mb_vocab *v, bool add_bos, bool add_eos) {
    if (add_bos && v->bos < 0)
        return mb_errorf(MB_ERR_INVALID_ARG, "vocab: cannot add BOS: the vocabulary has none");
    if (add_eos && v->eos < 0)
        return mb_errorf(MB_ERR_INVALID_ARG, "vocab: cannot add EOS: the vocabulary has none");
    v->add_bos = add_bos;
    v->add_eos = add_eos;
    return MB_OK;
}

bool mb_vocab_is_eog(const mb_vocab *v, mb_token id) {
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

const char *mb_vocab_token_text(const mb_vocab *v, mb_token id) {
    return id >= 0 && id < v->n_tokens ? mb_vocab_text(v, id) : NULL;
}

int mb_vocab_token_type(const mb_vocab *v, mb_token id) {
    return id >= 0 && id < v->n_tokens ? v->types[id] : -1;
}

mb_token mb_vocab_find(const mb_vocab *v, const char *text, size_t len) {
    if (len == 0) return mb_vocab_lookup(v, "", 0); /* memcmp must not see NULL */
    return text ? mb_vocab_lookup(v, text, len) : -1;
}

/* ---- decoding --------------------------------------------------------- */

/* Collects output bytes, counting past CAP so callers learn the size needed.
 * skip_space drops the next byte if it is a space (and is then cleared by
 * any byte). */
typedef struct {
    char *buf;
    size_t cap, n;
    bool skip_space;
} piece_out;

static void put_bytes(piece_out *o, const char *s, size_t len) {
    if (len == 0) return;
    if (o->skip_space) {
        o->skip_space = false;
        if (s[0] == ' ') {
            s++;
            len--;
        }
    }
    if (o->n < o->cap) {
        size_t room = o->cap - o->n;
        memcpy(o->buf + o->n, s, len < room ? len : room);
    }
    o->n += len;
}

/* A byte-level BPE token's text, each stand-in character read back as its
 * byte; any other character is passed through as it is. */
static void put_bpe_text(const char *s, size_t len, piece_out *o) {
    for (size_t i = 0; i < len;) {
        size_t used = 1;
        int b = mb_bpe_char_byte(s + i, len - i, &used);
        char c = (char)b;
        put_bytes(o, b >= 0 ? &c : s + i, b >= 0 ? 1 : used);
        i += used;
    }
}

static void put_piece(const mb_vocab *v, mb_token id, bool render_special, piece_out *o) {
    const char *s = mb_vocab_text(v, id);
    size_t len = v->text_len[id];
    switch (v->types[id]) {
    case MB_TOKEN_NORMAL:
    case MB_TOKEN_UNDEFINED: {
        if (v->bpe) {
            put_bpe_text(s, len, o);
            break;
        }
        size_t start = 0;
        for (size_t i = 0; i + 3 <= len;) {
            if (memcmp(s + i, k_space_mark, 3) == 0) {
                put_bytes(o, s + start, i - start);
                put_bytes(o, " ", 1);
                i += 3;
                start = i;
            } else {
                i++;
            }
        }
        put_bytes(o, s + start, len - start);
        break;
    }
    case MB_TOKEN_BYTE: {
        int b = byte_of_text(s, len);
        char c = (char)b;
        if (b >= 0)
            put_bytes(o, &c, 1);
        else
            put_bytes(o, s, len);
        break;
    }
    case MB_TOKEN_USER_DEFINED:
    case MB_TOKEN_UNKNOWN:
        /* Unknown is shown so that lossy input is visible in the output. */
        put_bytes(o, s, len);
        break;
    default: /* control, unused */
        if (render_special) put_bytes(o, s, len);
        break;
    }
}

mb_status mb_vocab_token_to_piece(const mb_vocab *v, mb_token id, bool render_special, char *buf,
                                  size_t cap, size_t *n_out) {
    *n_out = 0;
    if (id < 0 || id >= v->n_tokens)
        return mb_errorf(MB_ERR_INVALID_ARG, "token id %d is out of range (%d tokens)", (int)id,
                         v->n_tokens);
    if (cap > 0 && !buf) return mb_errorf(MB_ERR_INVALID_ARG, "token_to_piece: NULL buffer");
    piece_out o = {buf, cap, 0, false};
    put_piece(v, id, render_special, &o);
    *n_out = o.n;
    if (o.n > cap)
        return mb_errorf(MB_ERR_INVALID_ARG, "token %d: piece needs %zu bytes, buffer has %zu",
                         (int)id, o.n, cap);
    return MB_OK;
}

mb_status mb_vocab_detokenize(const mb_vocab *v, const mb_token *ids, size_t n,
                              bool remove_leading_space, bool render_special, char *buf, size_t cap,
                              size_t *n_out) {
    *n_out = 0;
    if (n > 0 && !ids) return mb_errorf(MB_ERR_INVALID_ARG, "detokenize: NULL ids");
    if (cap > 0 && !buf) return mb_errorf(MB_ERR_INVALID_ARG, "detokenize: NULL buffer");
    bool strip = remove_leading_space && v->add_space_prefix;
    piece_out o = {buf, cap, 0, strip};
    for (size_t i = 0; i < n; i++) {
        mb_token id = ids[i];
        if (id < 0 || id >= v->n_tokens)
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "detokenize: id %d at %zu is out of range (%d tokens)", (int)id, i,
                             v->n_tokens);
        if (mb_token_type_is_special(v->types[id])) {
            /* The tokenizer starts a new prefixed run after each of these. */
            o.skip_space = false;
            put_piece(v, id, render_special, &o);
            o.skip_space = strip;
        } else {
            put_piece(v, id, render_special, &o);
        }
    }
    *n_out = o.n;
    if (o.n > cap)
        return mb_errorf(MB_ERR_INVALID_ARG, "detokenize: text needs %zu bytes, buffer has %zu",
                         o.n, cap);
    return MB_OK;
}
