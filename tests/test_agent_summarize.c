/* The summarizer's mechanics, without a model: a fake tokenizer (one token
 * per word plus one, so token counts are not additive) and fake summarizers
 * that echo their input, keep its first sentences, or report what they got.
 * Checked: chunks cover the text exactly and in order within the budget,
 * the recursion ends even when nothing shrinks, the result keeps the word
 * target, and no call or level grows past its bound. */
#include "agent/summarize.h"
#include "test_util.h"

static bool blank(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static mb_status count_words(void *user, const char *t, size_t n, int *out) {
    (void)user;
    int w = 1;
    for (size_t i = 0; i < n; i++)
        w += !blank(t[i]) && (i == 0 || blank(t[i - 1]));
    *out = w;
    return MB_OK;
}

typedef struct {
    int mode; /* 0 echo, 1 first two sentences, 2 two words */
    int budget, calls, max_level, over_budget;
    size_t level1_bytes, max_input;
    char *level1; /* the level-1 inputs, concatenated */
    size_t n_level1;
} fake;

static mb_status fake_summarize(void *user, const mb_summary_call *call, const char *text,
                                size_t len, mb_summary_emit_fn emit, void *ctx) {
    fake *f = user;
    f->calls++;
    int toks;
    count_words(NULL, text, len, &toks);
    if (toks > f->budget) f->over_budget++;
    if (len > f->max_input) f->max_input = len;
    if (call->level > f->max_level) f->max_level = call->level;
    if (call->level == 1 && !call->final) {
        f->level1 = realloc(f->level1, f->n_level1 + len + 1);
        memcpy(f->level1 + f->n_level1, text, len);
        f->n_level1 += len;
    }
    size_t n = len;
    if (f->mode == 1) {
        int sentences = 0;
        for (n = 0; n < len && sentences < 2; n++)
            sentences += text[n] == '.';
    } else if (f->mode == 2) {
        static const char two[] = "Alice sleeps. ";
        return emit(ctx, two, sizeof two - 1), MB_OK;
    }
    /* In small pieces, as a model streams. */
    for (size_t i = 0; i < n; i += 7)
        if (emit(ctx, text + i, n - i < 7 ? n - i : 7)) break;
    return MB_OK;
}

static int count_notes;
static void on_note(void *user, const char *msg) {
    (void)user;
    (void)msg;
    count_notes++;
}

static void check_split(const char *text, size_t len, int budget) {
    mb_summary_chunk *ch = NULL;
    size_t n = 0;
    CHECK_OK(mb_summary_split(text, len, budget, count_words, NULL, &ch, &n));
    size_t at = 0;
    int bad_budget = 0, bad_count = 0, bad_utf8 = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(ch[i].start, at);
        CHECK(ch[i].end > ch[i].start);
        int real;
        count_words(NULL, text + ch[i].start, ch[i].end - ch[i].start, &real);
        bad_budget += ch[i].n_tokens > budget;
        bad_count += real != ch[i].n_tokens;
        bad_utf8 += ch[i].end < len && ((unsigned char)text[ch[i].end] & 0xC0) == 0x80;
        at = ch[i].end;
    }
    CHECK_EQ_INT(at, len);
    CHECK_EQ_INT(bad_budget, 0);
    CHECK_EQ_INT(bad_count, 0);
    CHECK_EQ_INT(bad_utf8, 0);
    free(ch);
}

static void test_split(const char *book, size_t len) {
    check_split(book, len, 300);
    check_split(book, len, 20);
    check_split(book, len, 2);
    /* Paragraphs are kept whole when they fit. */
    const char *t = "One two three.\n\nFour five six. Seven.\n\nEight nine.";
    mb_summary_chunk *ch = NULL;
    size_t n = 0;
    CHECK_OK(mb_summary_split(t, strlen(t), 6, count_words, NULL, &ch, &n));
    CHECK_EQ_INT(n, 3);
    if (n == 3) CHECK(!strncmp(t + ch[1].start, "Four five six. Seven.\n\n", 23));
    free(ch);
    /* No boundary at all: 64 KB of one word with two-byte characters. */
    size_t big = 1 << 16;
    char *w = malloc(big + 1);
    for (size_t i = 0; i < big; i += 2)
        w[i] = (char)0xC3, w[i + 1] = (char)0xA9;
    w[big] = '\0';
    check_split(w, big, 2);
    free(w);
    check_split("", 0, 5);
}

static void test_summarize(const char *book, size_t len, int mode, int budget, int words) {
    fake f = {.mode = mode, .budget = budget};
    mb_summary_params p = {.chunk_tokens = budget,
                           .words = words,
                           .count = count_words,
                           .summarize = fake_summarize,
                           .user = &f,
                           .on_note = on_note};
    char *out = NULL;
    size_t n = 0;
    mb_summary_stats st;
    count_notes = 0;
    CHECK_OK(mb_summarize(&p, book, len, &out, &n, &st));
    /* Every source byte went to exactly one level-1 call, in order. */
    if (st.levels > 0) {
        CHECK_EQ_INT(f.n_level1, len);
        CHECK(f.level1 && !memcmp(f.level1, book, len));
    }
    CHECK_EQ_INT(f.over_budget, 0);
    CHECK_EQ_INT(f.calls, st.calls);
    CHECK(f.max_input <= len);
    CHECK(st.result_words <= words);
    int w;
    count_words(NULL, out, n, &w);
    CHECK_MSG(w - 1 <= words, "%d words for a target of %d", w - 1, words);
    CHECK_EQ_INT(w - 1, st.result_words);
    CHECK_EQ_INT(count_notes, st.forced);
    if (mode == 0 && st.levels > 0) CHECK(st.forced > 0); /* an echo never shrinks */
    if (mode == 1 && len / (size_t)budget > 100) CHECK(st.levels >= 2);
    fprintf(stderr, "mode %d budget %d: %d levels, %d calls, %d forced, %d words%s\n", mode, budget,
            st.levels, st.calls, st.forced, st.result_words, st.cut ? " (cut)" : "");
    free(out);
    free(f.level1);
}

static int collect(void *ctx, const char *piece, size_t len) {
    char *s = ctx;
    strncat(s, piece, len);
    return 0;
}

static void test_limiter(void) {
    const char *t = "One two three. Four five \"six.\" Seven eight nine ten.";
    static const struct {
        int words;
        const char *want;
        bool cut;
    } cases[] = {
        {7, "One two three. Four five \"six.\" ", true},
        {10, "One two three. Four five \"six.\" Seven eight nine ten.", false},
        {2, "One two", true},
        {3, "One two three. ", false},
    };
    for (int c = 0; c < 4; c++) {
        for (size_t piece = 1; piece <= 5; piece += 4) {
            char got[128] = "";
            mb_summary_limiter l;
            mb_summary_limiter_init(&l, cases[c].words, collect, got);
            for (size_t i = 0; i < strlen(t); i += piece)
                if (mb_summary_limiter_put(&l, t + i,
                                           strlen(t) - i < piece ? strlen(t) - i : piece))
                    break;
            mb_summary_limiter_finish(&l);
            CHECK_MSG(!strcmp(got, cases[c].want), "%d words: \"%s\"", cases[c].words, got);
            CHECK_EQ_INT(l.cut, cases[c].cut);
        }
    }
}

/* An answer that runs out of tokens mid-sentence ends at the last full one. */
static void test_limiter_unfinished(void) {
    char got[128] = "";
    mb_summary_limiter l;
    mb_summary_limiter_init(&l, 50, collect, got);
    const char *t = "Tom ran home. Then he saw a b";
    mb_summary_limiter_put(&l, t, strlen(t));
    mb_summary_limiter_finish(&l);
    CHECK_MSG(!strcmp(got, "Tom ran home. "), "\"%s\"", got);
    CHECK(l.cut);
    CHECK_EQ_INT(l.used, 3);
    /* ... unless it is the only one. */
    got[0] = '\0';
    mb_summary_limiter_init(&l, 50, collect, got);
    mb_summary_limiter_put(&l, "Then he saw", 11);
    mb_summary_limiter_finish(&l);
    CHECK(!strcmp(got, "Then he saw"));
}

static void test_grounding(void) {
    const char *src = "Alice met the Queen of Hearts in 1865, and 3,000 cards.";
    const char *sum = "Alice and the Queen of Hearts met. The Hatter came in 1865 with 3,000 "
                      "cards and 12 mice.";
    int ents = 0, found = 0;
    double g = mb_summary_grounding(src, strlen(src), sum, strlen(sum), &ents, &found);
    /* "Alice" and "The" start sentences; entities: "Queen", "Hearts"
     * ("of" is lower case), "Hatter", "1865", "3,000", "12". */
    CHECK_EQ_INT(ents, 6);
    CHECK_EQ_INT(found, 4);
    CHECK_NEAR(g, 4.0 / 6.0, 1e-9);
    CHECK_NEAR(mb_summary_grounding(src, strlen(src), "nothing here", 12, &ents, &found), 1.0, 0);
}

int main(void) {
    size_t len = 0;
    char *book = mbt_read_file(mbt_shared_path_or_skip("data/pg11.txt"), &len);
    CHECK(book != NULL);
    if (!book) return mbt_finish();
    test_split(book, len);
    size_t slice = len < 40000 ? len : 40000;
    test_summarize(book, slice, 0, 200, 50);
    test_summarize(book, slice, 1, 200, 50);
    test_summarize(book, slice, 2, 200, 1);
    test_summarize(book, len, 1, 2000, 200);
    test_summarize("Short text. Fits at once.", 25, 0, 200, 3);
    test_limiter();
    test_limiter_unfinished();
    test_grounding();
    free(book);
    return mbt_finish();
}
