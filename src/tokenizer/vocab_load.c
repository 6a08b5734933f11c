/* Reading the vocabulary from the tokenizer.ggml.* keys of a GGUF file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/bpe_pre.h"
#include "tokenizer/vocab_internal.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"

/* A present key: MB_OK. An absent one: MB_ERR_INVALID_ARG from the reader,
 * which the optional keys below turn into their default. */
static bool key_present(const mb_gguf *g, const char *key) {
    return mb_gguf_find_kv(g, key) != NULL;
}

/* A special-token id key: absent keeps *id (the default), -1 or 0xFFFFFFFF
 * means none, anything else must be a valid id. */
static mb_status read_id(const mb_gguf *g, const char *key, int n_tokens, mb_token *id) {
    if (!key_present(g, key)) return MB_OK;
    int64_t value;
    mb_status st = mb_gguf_get_i64(g, key, &value);
    if (st != MB_OK) return st;
    if (value == -1 || value == (int64_t)UINT32_MAX) {
        *id = -1;
        return MB_OK;
    }
    if (value < 0 || value >= n_tokens)
        return mb_errorf(MB_ERR_FORMAT, "%s = %lld is out of range (the vocabulary has %d tokens)",
                         key, (long long)value, n_tokens);
    *id = (mb_token)value;
    return MB_OK;
}

static mb_status read_bool(const mb_gguf *g, const char *key, bool *value) {
    if (!key_present(g, key)) return MB_OK;
    return mb_gguf_get_bool(g, key, value);
}

/* Sets *bpe for "gpt2" (byte-level BPE), clears it for "llama". */
static mb_status check_model(const mb_gguf *g, bool *bpe) {
    if (!key_present(g, KEY_MODEL))
        return mb_errorf(MB_ERR_FORMAT, "the file has no tokenizer: key '%s' is missing",
                         KEY_MODEL);
    mb_str model;
    mb_status st = mb_gguf_get_str(g, KEY_MODEL, &model);
    if (st != MB_OK) return st;
    *bpe = model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0;
    if (*bpe || (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0)) return MB_OK;
    int shown = model.len > 64 ? 64 : (int)model.len;
    return mb_errorf(MB_ERR_UNSUPPORTED,
                     "tokenizer model '%.*s' is not supported yet (supported: llama, gpt2)", shown,
                     model.ptr);
}

/* An optional array parallel to the tokens: its length must match. */
static mb_status get_parallel_arr(const mb_gguf *g, const char *key, uint64_t n,
                                  const mb_gguf_value **arr) {
    *arr = NULL;
    if (!key_present(g, key)) return MB_OK;
    mb_status st = mb_gguf_get_arr(g, key, arr);
    if (st != MB_OK) return st;
    uint32_t t = (*arr)->arr.type;
    if (t == MB_GGUF_STR || t == MB_GGUF_ARR || t >= MB_GGUF_TYPE_COUNT)
        return mb_errorf(MB_ERR_FORMAT, "%s: expected an array of numbers, found %s elements", key,
                         mb_gguf_type_name(t));
    if ((*arr)->arr.n != n)
        return mb_errorf(MB_ERR_FORMAT, "%s has %llu entries but %s has %llu", key,
                         (unsigned long long)(*arr)->arr.n, KEY_TOKENS, (unsigned long long)n);
    return MB_OK;
}

typedef struct {
    const char **texts;
    size_t *lens;
    float *scores;
    int32_t *types;
} load_arrays;

static void free_arrays(load_arrays *a) {
    free(a->texts);
    free(a->lens);
    free(a->scores);
    free(a->types);
}

static mb_status read_arrays(const mb_gguf *g, int n, load_arrays *a) {
    const mb_gguf_value *tokens, *scores, *types;
    mb_status st = mb_gguf_get_arr(g, KEY_TOKENS, &tokens);
    if (st == MB_OK) st = get_parallel_arr(g, KEY_SCORES, (uint64_t)n, &scores);
    if (st == MB_OK) st = get_parallel_arr(g, KEY_TYPES, (uint64_t)n, &types);
    if (st != MB_OK) return st;
    a->texts = malloc((size_t)n * sizeof *a->texts);
    a->lens = malloc((size_t)n * sizeof *a->lens);
    a->scores = scores ? malloc((size_t)n * sizeof *a->scores) : NULL;
    a->types = types ? malloc((size_t)n * sizeof *a->types) : NULL;
    if (!a->texts || !a->lens || (scores && !a->scores) || (types && !a->types))
        return mb_errorf(MB_ERR_NO_MEMORY, "no memory for a vocabulary of %d tokens", n);
    for (int i = 0; i < n; i++) {
        const mb_str *s = &tokens->arr.strs[i];
        if (s->len > UINT32_MAX)
            return mb_errorf(MB_ERR_FORMAT, "%s[%d]: text of %llu bytes is too long", KEY_TOKENS, i,
                             (unsigned long long)s->len);
        a->texts[i] = s->ptr;
        a->lens[i] = (size_t)s->len;
    }
    for (int i = 0; scores && i < n; i++)
        a->scores[i] = (float)mb_gguf_arr_f64(scores, (uint64_t)i);
    for (int i = 0; types && i < n; i++) {
        int64_t t = mb_gguf_arr_i64(types, (uint64_t)i);
        if (t < MB_TOKEN_UNDEFINED || t > MB_TOKEN_BYTE)
            return mb_errorf(MB_ERR_FORMAT, "%s[%d] = %lld is not a token type (0..6)", KEY_TYPES,
                             i, (long long)t);
        a->types[i] = (int32_t)t;
    }
    return MB_OK;
}

static mb_status token_count(const mb_gguf *g, int *n) {
    if (!key_present(g, KEY_TOKENS))
        return mb_errorf(MB_ERR_FORMAT, "the file has no tokenizer: key '%s' is missing",
                         KEY_TOKENS);
    const mb_gguf_value *tokens;
    mb_status st = mb_gguf_get_arr(g, KEY_TOKENS, &tokens);
    if (st != MB_OK) return st;
    if (tokens->arr.type != MB_GGUF_STR)
        return mb_errorf(MB_ERR_FORMAT, "%s: expected an array of strings, found %s elements",
                         KEY_TOKENS, mb_gguf_type_name(tokens->arr.type));
    if (tokens->arr.n == 0) return mb_errorf(MB_ERR_FORMAT, "%s is empty", KEY_TOKENS);
    if (tokens->arr.n > INT32_MAX)
        return mb_errorf(MB_ERR_FORMAT, "%s has %llu tokens, more than ids can hold", KEY_TOKENS,
                         (unsigned long long)tokens->arr.n);
    *n = (int)tokens->arr.n;
    return MB_OK;
}

/* The ids and flags. Absent ids take llama.cpp's defaults for SentencePiece
 * vocabularies (bos 1, eos 2, unk 0) where those exist, so both engines
 * tokenize a file the same way. A BPE vocabulary without the keys has none
 * of them (llama.cpp would guess id 11, a comma in GPT-2's vocabulary). */
static mb_status read_specials(const mb_gguf *g, int n, mb_vocab_init *init,
                               mb_token fim[MB_FIM_COUNT], bool *bos_explicit) {
    bool bpe = strcmp(init->model, "gpt2") == 0;
    init->bos = !bpe && n > 1 ? 1 : -1;
    init->eos = !bpe && n > 2 ? 2 : -1;
    init->unk = bpe ? -1 : 0;
    init->sep = init->pad = init->eot = init->eom = -1;
    for (int f = 0; f < MB_FIM_COUNT; f++)
        fim[f] = -1;
    struct {
        const char *key;
        mb_token *id;
    } ids[] = {
        {"tokenizer.ggml.bos_token_id", &init->bos},
        {"tokenizer.ggml.eos_token_id", &init->eos},
        {"tokenizer.ggml.unknown_token_id", &init->unk},
        {"tokenizer.ggml.seperator_token_id", &init->sep}, /* sic: the GGUF key's spelling */
        {"tokenizer.ggml.padding_token_id", &init->pad},
        {"tokenizer.ggml.eot_token_id", &init->eot},
        {"tokenizer.ggml.eom_token_id", &init->eom},
        {"tokenizer.ggml.fim_pre_token_id", &fim[MB_FIM_PRE]},
        {"tokenizer.ggml.fim_suf_token_id", &fim[MB_FIM_SUF]},
        {"tokenizer.ggml.fim_mid_token_id", &fim[MB_FIM_MID]},
        {"tokenizer.ggml.fim_pad_token_id", &fim[MB_FIM_PAD]},
        {"tokenizer.ggml.fim_rep_token_id", &fim[MB_FIM_REP]},
        {"tokenizer.ggml.fim_sep_token_id", &fim[MB_FIM_SEP]},
        /* The older names; like llama.cpp, they win when both are there. */
        {"tokenizer.ggml.prefix_token_id", &fim[MB_FIM_PRE]},
        {"tokenizer.ggml.suffix_token_id", &fim[MB_FIM_SUF]},
        {"tokenizer.ggml.middle_token_id", &fim[MB_FIM_MID]},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        mb_status st = read_id(g, ids[i].key, n, ids[i].id);
        if (st != MB_OK) return st;
    }
    /* Checked for range only; nothing in an SPM model uses them yet. */
    const char *other[] = {"tokenizer.ggml.cls_token_id", "tokenizer.ggml.mask_token_id"};
    for (size_t i = 0; i < 2; i++) {
        mb_token unused = -1;
        mb_status st = read_id(g, other[i], n, &unused);
        if (st != MB_OK) return st;
    }
    if (!bpe) init->add_bos = true; /* BPE: the pre-tokenizer's default, set by the caller */
    init->add_eos = false;
    init->add_space_prefix = !bpe;
    *bos_explicit = key_present(g, "tokenizer.ggml.add_bos_token");
    mb_status st = read_bool(g, "tokenizer.ggml.add_bos_token", &init->add_bos);
    if (st == MB_OK) st = read_bool(g, "tokenizer.ggml.add_eos_token", &init->add_eos);
    if (st == MB_OK) st = read_bool(g, "tokenizer.ggml.add_space_prefix", &init->add_space_prefix);
    return st;
}

/* general.name, which llama.cpp sets token attributes by (Phi-3). */
static mb_status read_name(const mb_gguf *g, mb_vocab_init *init) {
    const char *key = "general.name";
    if (!key_present(g, key)) return MB_OK;
    mb_str name;
    mb_status st = mb_gguf_get_str(g, key, &name);
    if (st != MB_OK) return st;
    init->name = name.ptr;
    init->name_len = (size_t)name.len;
    return MB_OK;
}

/* The merges ("a b" strings, rank order) of a BPE vocabulary. */
static mb_status read_merges(const mb_gguf *g, mb_vocab_init *init, size_t **lens,
                             const char ***texts) {
    const char *key = "tokenizer.ggml.merges";
    if (!key_present(g, key))
        return mb_errorf(MB_ERR_FORMAT,
                         "byte-level BPE tokenizer without merges: key '%s' is "
                         "missing",
                         key);
    const mb_gguf_value *arr;
    mb_status st = mb_gguf_get_arr(g, key, &arr);
    if (st != MB_OK) return st;
    if (arr->arr.type != MB_GGUF_STR)
        return mb_errorf(MB_ERR_FORMAT, "%s: expected an array of strings, found %s elements", key,
                         mb_gguf_type_name(arr->arr.type));
    if (arr->arr.n > INT32_MAX)
        return mb_errorf(MB_ERR_FORMAT, "%s has %llu entries, too many", key,
                         (unsigned long long)arr->arr.n);
    size_t n = (size_t)arr->arr.n;
    *lens = malloc((n ? n : 1) * sizeof **lens);
    *texts = malloc((n ? n : 1) * sizeof **texts);
    if (!*lens || !*texts) return mb_errorf(MB_ERR_NO_MEMORY, "no memory for %zu merges", n);
    for (size_t i = 0; i < n; i++) {
        (*texts)[i] = arr->arr.strs[i].ptr;
        (*lens)[i] = (size_t)arr->arr.strs[i].len;
    }
    init->n_merges = n;
    init->merges = *texts;
    init->merge_lens = *lens;
    return MB_OK;
}

/* The pre-tokenizer's name: the override, or tokenizer.ggml.pre, or
 * "default" (as llama.cpp does for files converted before the key). Also
 * the add_bos default it implies. */
static mb_status read_pre(const mb_gguf *g, const char *override, mb_vocab_init *init) {
    const char *key = "tokenizer.ggml.pre";
    if (override) {
        init->pre = override;
        init->pre_len = strlen(override);
        init->pre_source = "--tokenizer-pre";
    } else if (key_present(g, key)) {
        mb_str pre;
        mb_status st = mb_gguf_get_str(g, key, &pre);
        if (st != MB_OK) return st;
        init->pre = pre.ptr;
        init->pre_len = (size_t)pre.len;
        init->pre_source = key;
    } else {
        init->pre = "default";
        init->pre_len = 7;
        init->pre_source = "default";
    }
    bool add_bos = false;
    if (!mb_bpe_pre_known(init->pre, init->pre_len, &add_bos))
        return mb_bpe_pre_unknown(init->pre, init->pre_len, init->pre_source);
    init->add_bos = add_bos;
    return MB_OK;
}

mb_status mb_vocab_load(const mb_gguf *g, mb_vocab **out) {
    return mb_vocab_load_pre(g, NULL, out);
}

mb_status mb_vocab_load_pre(const mb_gguf *g, const char *pre, mb_vocab **out) {
    *out = NULL;
    bool bpe = false;
    mb_status st = check_model(g, &bpe);
    int n = 0;
    if (st == MB_OK) st = token_count(g, &n);
    mb_vocab_init init = {.n_tokens = n, .model = bpe ? "gpt2" : "llama"};
    size_t *merge_lens = NULL;
    const char **merges = NULL;
    if (st == MB_OK && bpe) st = read_pre(g, pre, &init);
    if (st == MB_OK && bpe) st = read_merges(g, &init, &merge_lens, &merges);
    bool bos_explicit = false;
    mb_token fim[MB_FIM_COUNT];
    init.fim = fim;
    if (st == MB_OK) st = read_specials(g, n, &init, fim, &bos_explicit);
    if (st == MB_OK) st = read_name(g, &init);
    if (st == MB_OK && init.add_bos && init.bos < 0) {
        if (bos_explicit)
            st = mb_errorf(MB_ERR_FORMAT,
                           "tokenizer.ggml.add_bos_token is true but there is no BOS token");
        init.add_bos = false; /* only the default asked for it */
    }
    if (st == MB_OK && init.add_eos && init.eos < 0)
        st = mb_errorf(MB_ERR_FORMAT,
                       "tokenizer.ggml.add_eos_token is true but there is no EOS token");
    load_arrays a = {0};
    if (st == MB_OK) st = read_arrays(g, n, &a);
    if (st == MB_OK) {
        init.texts = a.texts;
        init.lens = a.lens;
        init.scores = a.scores;
        init.types = a.types;
        st = mb_vocab_build(&init, out);
    }
    free_arrays(&a);
    free(merge_lens);
    free(merges);
    return st;
}
