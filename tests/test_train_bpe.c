/* tokenizer-train: byte-level BPE learnt on a text loads as a GGUF
 * vocabulary of exactly N tokens, round-trips held-out text (with bytes it
 * never saw) exactly, compresses it, has every merge's parts and result as
 * tokens, and is the same when trained twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "test_util.h"
#include "tokenizer/vocab.h"
#include "train/bpe_train.h"

/* Pseudo-English from a few syllables, so frequent pairs exist. */
static char *make_text(uint64_t seed, size_t n_words, size_t *len) {
    static const char *syl[] = {"th", "e",  "an", "ing", "re", "st",
                                "o",  "ca", "ll", "y",   "ou", "me"};
    char *buf = malloc(n_words * 16 + 1);
    size_t o = 0;
    for (size_t w = 0; w < n_words; w++) {
        int k = 1 + (int)(mbt_rand_u64(&seed) % 3);
        for (int i = 0; i < k; i++) {
            const char *s = syl[mbt_rand_u64(&seed) % 12];
            memcpy(buf + o, s, strlen(s));
            o += strlen(s);
        }
        uint64_t r = mbt_rand_u64(&seed) % 20;
        buf[o++] = r == 0 ? '\n' : r == 1 ? ',' : r == 2 ? '.' : ' ';
        if (r == 3) o += (size_t)sprintf(buf + o, "%d ", (int)(w % 1000));
    }
    buf[o] = 0;
    *len = o;
    return buf;
}

static mb_vocab *load(const char *path) {
    mb_gguf *g = NULL;
    mb_vocab *v = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    if (g) CHECK_OK(mb_vocab_load(g, &v));
    mb_gguf_close(g);
    return v;
}

int main(void) {
    size_t len = 0, hlen = 0;
    char *text = make_text(1, 20000, &len);
    char path[600], path2[600];
    snprintf(path, sizeof path, "%s/tok.gguf", mbt_tmpdir());
    snprintf(path2, sizeof path2, "%s/tok2.gguf", mbt_tmpdir());
    const int N = 600;
    mb_bpe_train_stats st;
    CHECK_OK(mb_bpe_train_file(text, len, N, "gpt-2", path, &st));
    CHECK_EQ_INT(st.n_tokens, N);
    CHECK(st.n_unique < st.n_words);
    mb_vocab *v = load(path);
    if (!v) return mbt_finish();
    CHECK_EQ_INT(mb_vocab_n_tokens(v), N);
    CHECK(!strcmp(mb_vocab_model_name(v), "gpt2"));
    CHECK(!strcmp(mb_vocab_pre_name(v), "gpt-2"));
    CHECK_EQ_INT(mb_vocab_bos(v), N - 1);
    CHECK_EQ_INT(mb_vocab_eos(v), N - 1);
    CHECK_EQ_INT(mb_vocab_token_type(v, N - 1), MB_TOKEN_CONTROL);
    CHECK(!strcmp(mb_vocab_token_text(v, N - 1), "<|endoftext|>"));

    /* Held-out text from another seed, plus bytes never seen in training. */
    char *held = make_text(2, 3000, &hlen);
    const char extra[] = " caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\t{x}\n";
    held = realloc(held, hlen + sizeof extra);
    memcpy(held + hlen, extra, sizeof extra);
    hlen += sizeof extra - 1;
    mb_token *ids = malloc((hlen + 4) * sizeof *ids);
    size_t n = 0, out_n = 0;
    CHECK_OK(mb_vocab_tokenize(v, held, hlen, false, false, ids, hlen + 4, &n));
    CHECK_MSG(n * 2 < hlen, "%zu tokens for %zu bytes: merges do not apply", n, hlen);
    char *back = malloc(hlen + 1);
    CHECK_OK(mb_vocab_detokenize(v, ids, n, false, false, back, hlen + 1, &out_n));
    CHECK_MSG(out_n == hlen && !memcmp(back, held, hlen), "round trip differs");

    /* Every merge "A B": A, B and AB are tokens. */
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    const mb_gguf_value *merges = NULL;
    if (g) CHECK_OK(mb_gguf_get_arr(g, "tokenizer.ggml.merges", &merges));
    int bad = 0;
    for (uint64_t i = 0; merges && i < merges->arr.n; i++) {
        const mb_str *m = &merges->arr.strs[i];
        const char *sp = memchr(m->ptr, ' ', m->len);
        if (!sp) {
            bad++;
            continue;
        }
        size_t la = (size_t)(sp - m->ptr), lb = m->len - la - 1;
        char cat[512];
        memcpy(cat, m->ptr, la);
        memcpy(cat + la, sp + 1, lb);
        if (mb_vocab_find(v, m->ptr, la) < 0 || mb_vocab_find(v, sp + 1, lb) < 0 ||
            mb_vocab_find(v, cat, la + lb) < 0)
            bad++;
    }
    CHECK(merges && merges->arr.n >= (uint64_t)N - 257);
    CHECK_EQ_INT(bad, 0);
    mb_gguf_close(g);

    /* Deterministic: trained again, the same file. */
    CHECK_OK(mb_bpe_train_file(text, len, N, "gpt-2", path2, NULL));
    size_t l1 = 0, l2 = 0;
    char *f1 = mbt_read_file(path, &l1), *f2 = mbt_read_file(path2, &l2);
    CHECK(f1 && f2 && l1 == l2 && !memcmp(f1, f2, l1));
    /* A vocabulary the text cannot reach is refused with the reachable size. */
    CHECK(mb_bpe_train_file("ab ab", 5, 400, "gpt-2", path2, NULL) == MB_ERR_INVALID_ARG);
    CHECK(strstr(mb_last_error(), "reaches") != NULL);
    /* llama-bpe pre-tokenizer is accepted and recorded. */
    CHECK_OK(mb_bpe_train_file(text, len, 300, "llama-bpe", path2, NULL));
    mb_vocab *v2 = load(path2);
    if (v2) CHECK(!strcmp(mb_vocab_pre_name(v2), "llama-bpe"));
    mb_vocab_free(v2);
    free(f1), free(f2), free(ids), free(back), free(held), free(text);
    mb_vocab_free(v);
    return mbt_finish();
}
