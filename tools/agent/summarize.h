/* Summarizing a text longer than the model's context: split it on paragraph,
 * then sentence (then word, then byte) boundaries into chunks that fit a
 * token budget, summarize each (map), join the partial summaries and repeat
 * (reduce) until the text fits one final call, whose output is streamed and
 * cut at a sentence boundary to about the target length.
 *
 * The model is behind two callbacks (count tokens, summarize one text), so
 * the mechanics are tested without one (tests/test_agent_summarize.c) and
 * the final call can go to an oracle (tools/cmd_summarize.c). */
#ifndef MB_AGENT_SUMMARIZE_H
#define MB_AGENT_SUMMARIZE_H

#include <stdbool.h>
#include <stddef.h>

#include <matchbox.h>

/* Tokens of TEXT[0..len) as the prompt will hold them. */
typedef mb_status (*mb_summary_count_fn)(void *user, const char *text, size_t len, int *n_tokens);

/* Where the summarize callback puts its output, piece by piece; returns
 * non-zero when it wants no more (stop generating). */
typedef int (*mb_summary_emit_fn)(void *ctx, const char *piece, size_t len);

typedef struct {
    int level;    /* 1: the source's chunks; 2: their summaries' chunks; ... */
    int index;    /* 1-based chunk number within the level */
    int n_chunks; /* chunks of this level */
    bool final;   /* the last call: its output is the result */
    int words;    /* the target length to ask for */
} mb_summary_call;

/* Summarize TEXT[0..len), giving the summary to EMIT. */
typedef mb_status (*mb_summary_fn)(void *user, const mb_summary_call *call, const char *text,
                                   size_t len, mb_summary_emit_fn emit, void *emit_ctx);

typedef struct {
    int chunk_tokens; /* most tokens of text one call may get (> 0) */
    int words;        /* target length of the result in words (> 0) */
    int max_levels;   /* 0: 24; past it the text is cut to one chunk */
    mb_summary_count_fn count;
    mb_summary_fn summarize;
    void *user; /* passed to COUNT and SUMMARIZE */
    /* The final summary, streamed in whole sentences; may be NULL. */
    mb_summary_emit_fn on_result;
    void *result_user;
    /* Notes on forced progress ("level 3 did not shrink ..."); may be NULL. */
    void (*on_note)(void *user, const char *note);
} mb_summary_params;

typedef struct {
    int levels;       /* map levels run before the final call */
    int calls;        /* summarize calls, the final one included */
    int forced;       /* levels whose partial summaries were cut to force progress */
    int result_words; /* words in the result */
    bool cut;         /* the result was cut to the target length */
} mb_summary_stats;

/* Summarize TEXT; *OUT gets the result (free()), as on_result streamed it. */
mb_status mb_summarize(const mb_summary_params *p, const char *text, size_t len, char **out,
                       size_t *out_len, mb_summary_stats *stats);

/* One chunk: bytes [start, end) of the text, and its token count. */
typedef struct {
    size_t start, end;
    int n_tokens;
} mb_summary_chunk;

/* Split TEXT into consecutive chunks of at most BUDGET tokens that cover it
 * exactly, preferring paragraph, then sentence, then word boundaries, and
 * never splitting a UTF-8 character. *CHUNKS: free(). */
mb_status mb_summary_split(const char *text, size_t len, int budget, mb_summary_count_fn count,
                           void *user, mb_summary_chunk **chunks, size_t *n_chunks);

/* Feed the final output through a word limit: whole sentences are passed
 * on while they keep the total within WORDS (about: the first sentence is
 * cut at a word if it alone is longer). */
typedef struct {
    mb_summary_emit_fn emit;
    void *emit_user;
    int words, used; /* the limit and the words passed on */
    char *pending;   /* the sentence in progress */
    size_t n_pending, cap_pending;
    int pending_words; /* words in PENDING */
    bool done, cut, failed;
} mb_summary_limiter;

void mb_summary_limiter_init(mb_summary_limiter *l, int words, mb_summary_emit_fn emit,
                             void *emit_user);
/* Returns non-zero once the limit is reached (stop generating). */
int mb_summary_limiter_put(mb_summary_limiter *l, const char *piece, size_t len);
/* Pass on what is left within the limit; frees the buffer. */
void mb_summary_limiter_finish(mb_summary_limiter *l);

/* Grounding: the named entities of SUMMARY (capitalized word sequences not
 * at a sentence start, and numbers) and how many occur verbatim in SOURCE.
 * Returns found / entities, or 1 when there are none. */
double mb_summary_grounding(const char *source, size_t source_len, const char *summary,
                            size_t summary_len, int *n_entities, int *n_found);

#endif
