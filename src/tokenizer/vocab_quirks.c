/* What llama.cpp derives from token texts and the model's name rather than
 * from the metadata (llama_vocab::impl::load in llama-vocab.cpp), so that
 * both engines stop generating at the same tokens and cut the same special
 * tokens out of a prompt:
 *
 * 1. EOT, EOM and FIM ids the metadata leaves out are taken from the token
 *    with a known text, and that token becomes a control token.
 * 2. Generation ends at EOS, EOT, EOM, the FIM pad, repository and
 *    file-separator tokens, and every token whose text is a known
 *    end-of-turn text; those become control tokens too (a converter that
 *    typed "<|im_end|>" as normal text would otherwise make the model's own
 *    turn ends invisible). Two fix-ups take a token out again: "<|end|>"
 *    where gpt-oss-style "<|return|>"/"<|call|>" end the turn instead, and
 *    "</s>" next to Gemma 4's "<|tool_response>".
 * 3. A general.name containing "phi3" or "phi-3" (any case) gives every
 *    special token RSTRIP, as Phi-3's tokenizer.json marks its added tokens,
 *    and "</s>" too, but not "<unk>", "<s>" or "<|endoftext|>". Note that
 *    "Phi 3 Mini" (a space, as newer converters write names) contains
 *    neither, so llama.cpp leaves such a file alone, and so does this.
 *    Otherwise a name containing "modern-bert" gives "[MASK]" LSTRIP.
 *    (llama.cpp's LSTRIP for Jina's and Nomic's "<mask>" goes by
 *    pre-tokenizers and architectures matchbox does not load.)
 *
 * Where several tokens match a guess, llama.cpp takes the one its hash map
 * yields first; this takes the first text in the list, which is the same
 * token whenever only one matches and the intended one ("<|im_end|>" over
 * "<|endoftext|>", "<|end|>" over "<|endoftext|>") when more do. */
#include <string.h>

#include "tokenizer/vocab_internal.h"

#define FW_BAR "\xEF\xBD\x9C"  /* U+FF5C FULLWIDTH VERTICAL LINE (DeepSeek's markers) */
#define SP_MARK "\xE2\x96\x81" /* U+2581, SentencePiece's space */
#define DEEPSEEK_EOS "<" FW_BAR "end" SP_MARK "of" SP_MARK "sentence" FW_BAR ">"

static const char *const k_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",      "<|end_of_text|>",
    "<EOT>",      "_<EOT>",     "[EOT]",   DEEPSEEK_EOS,    "<end_of_utterance>", NULL};
static const char *const k_eom_texts[] = {"<|eom_id|>", NULL};

static const char *const k_fim_texts[MB_FIM_COUNT][9] = {
    [MB_FIM_PRE] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
                    "<" FW_BAR "fim" SP_MARK "begin" FW_BAR ">", "<PRE>", SP_MARK "<PRE>",
                    "<|code_prefix|>", "<|prefix|>", NULL},
    [MB_FIM_SUF] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
                    "<" FW_BAR "fim" SP_MARK "hole" FW_BAR ">", "<SUF>", SP_MARK "<SUF>",
                    "<|code_suffix|>", "<|suffix|>", NULL},
    [MB_FIM_MID] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
                    "<" FW_BAR "fim" SP_MARK "end" FW_BAR ">", "<MID>", SP_MARK "<MID>",
                    "<|code_middle|>", "<|middle|>", NULL},
    [MB_FIM_PAD] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL},
    [MB_FIM_REP] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL},
    [MB_FIM_SEP] = {"<|file_sep|>", NULL},
};

/* Texts that end generation wherever they are in a vocabulary. With the ids
 * above, at most 22 + 6 tokens: MB_VOCAB_MAX_EOG holds them all. */
static const char *const k_eog_texts[] = {"<|eot_id|>",
                                          "<|im_end|>",
                                          "<|end|>",
                                          "<|return|>",
                                          "<|call|>",
                                          "<|flush|>",
                                          "<|calls|>",
                                          "<end_of_turn>",
                                          "<|endoftext|>",
                                          "</s>",
                                          "<|eom_id|>",
                                          "<EOT>",
                                          "_<EOT>",
                                          "[EOT]",
                                          "[EOS]",
                                          "<|end_of_text|>",
                                          "<end_of_utterance>",
                                          "<eos>",
                                          "<turn|>",
                                          "<|tool_response>",
                                          DEEPSEEK_EOS,
                                          "[e~[",
                                          NULL};

/* gpt-oss's message markers: always cut out of text and always rendered. */
static const char *const k_user_defined_texts[] = {"<|channel|>", "<|message|>", "<|start|>",
                                                   "<|constrain|>", NULL};

static mb_token find_text(const mb_vocab *v, const char *s) {
    return mb_vocab_lookup(v, s, strlen(s));
}

/* An absent *ID becomes the first token with one of TEXTS, a control token. */
static void guess_id(mb_vocab *v, mb_token *id, const char *const *texts) {
    for (int i = 0; *id < 0 && texts[i]; i++) {
        mb_token t = find_text(v, texts[i]);
        if (t < 0) continue;
        *id = t;
        v->types[t] = MB_TOKEN_CONTROL;
    }
}

static void add_eog(mb_vocab *v, mb_token id) {
    if (id < 0 || v->n_eog == MB_VOCAB_MAX_EOG) return;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return;
    v->eog[v->n_eog++] = id;
}

static void remove_eog(mb_vocab *v, mb_token id) {
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) {
            v->eog[i] = v->eog[--v->n_eog];
            return;
        }
}

/* The end-of-generation token with text S, or -1. */
static mb_token eog_with_text(const mb_vocab *v, const char *s) {
    mb_token id = find_text(v, s);
    return id >= 0 && mb_vocab_is_eog(v, id) ? id : -1;
}

/* llama.cpp's two fix-ups: with gpt-oss's "<|return|>" and "<|call|>" (or
 * solar-open's "<|calls|>" and "<|flush|>") "<|end|>" only ends a message
 * and becomes user-defined; with Gemma 4's "<|tool_response>", "</s>" is
 * plain text. */
static void drop_false_ends(mb_vocab *v) {
    bool has_return = eog_with_text(v, "<|return|>") >= 0;
    bool has_call = eog_with_text(v, "<|call|>") >= 0 || eog_with_text(v, "<|calls|>") >= 0;
    bool has_flush = eog_with_text(v, "<|flush|>") >= 0;
    mb_token end = eog_with_text(v, "<|end|>");
    if (end >= 0 && has_call && (has_return || has_flush)) {
        remove_eog(v, end);
        v->types[end] = MB_TOKEN_USER_DEFINED;
    }
    mb_token s = eog_with_text(v, "</s>");
    if (s >= 0 && eog_with_text(v, "<|tool_response>") >= 0) {
        remove_eog(v, s);
        v->types[s] = MB_TOKEN_NORMAL;
    }
}

void mb_vocab_detect_specials(mb_vocab *v) {
    guess_id(v, &v->eot, k_eot_texts);
    guess_id(v, &v->eom, k_eom_texts);
    for (int f = 0; f < MB_FIM_COUNT; f++)
        guess_id(v, &v->fim[f], k_fim_texts[f]);
    v->n_eog = 0;
    add_eog(v, v->fim[MB_FIM_PAD]);
    add_eog(v, v->fim[MB_FIM_REP]);
    add_eog(v, v->fim[MB_FIM_SEP]);
    for (int i = 0; k_eog_texts[i]; i++) {
        mb_token id = find_text(v, k_eog_texts[i]);
        if (id < 0) continue;
        add_eog(v, id);
        v->types[id] = MB_TOKEN_CONTROL;
    }
    for (int i = 0; k_user_defined_texts[i]; i++) {
        mb_token id = find_text(v, k_user_defined_texts[i]);
        if (id >= 0) v->types[id] = MB_TOKEN_USER_DEFINED;
    }
    add_eog(v, v->eos);
    add_eog(v, v->eot);
    add_eog(v, v->eom);
    drop_false_ends(v);
}

/* Whether NAME[0..LEN) contains NEEDLE (lower case), ignoring ASCII case. */
static bool name_contains(const char *name, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        size_t k = 0;
        while (k < n) {
            char c = name[i + k];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != needle[k]) break;
            k++;
        }
        if (k == n) return true;
    }
    return false;
}

static void set_strip(mb_vocab *v, const char *text, uint8_t flag, bool on) {
    mb_token id = find_text(v, text);
    if (id < 0) return; /* llama.cpp refuses such a file; nothing to mark here */
    if (on)
        v->strip[id] |= flag;
    else
        v->strip[id] &= (uint8_t)~flag;
}

void mb_vocab_set_strip(mb_vocab *v, const char *name, size_t len) {
    memset(v->strip, 0, (size_t)v->n_tokens);
    if (!name) return;
    if (name_contains(name, len, "phi-3") || name_contains(name, len, "phi3")) {
        for (int i = 0; i < v->n_specials; i++)
            v->strip[v->specials[i]] |= MB_TOKEN_RSTRIP;
        set_strip(v, "</s>", MB_TOKEN_RSTRIP, true);
        set_strip(v, "<unk>", MB_TOKEN_RSTRIP, false);
        set_strip(v, "<s>", MB_TOKEN_RSTRIP, false);
        set_strip(v, "<|endoftext|>", MB_TOKEN_RSTRIP, false);
    } else if (name_contains(name, len, "modern-bert")) {
        set_strip(v, "[MASK]", MB_TOKEN_LSTRIP, true); /* " [MASK]" is one token */
    }
}
