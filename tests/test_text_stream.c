/* The text stream of generation: a token's text of any length reaches the
 * caller whole (pieces over 256 bytes were cut before), and text that may
 * start a stop string is never released early, however long it grows
 * (held-back text over 4 KiB was flushed before, stop string and all). */
#include <stdlib.h>
#include <string.h>

#include "runtime/text_stream.h"
#include "test_util.h"

typedef struct {
    char text[16384];
    size_t n;
} sink;

static int collect(const char *t, size_t n, void *user) {
    sink *s = user;
    if (s->n + n <= sizeof s->text) memcpy(s->text + s->n, t, n);
    s->n += n;
    return 0;
}

int main(void) {
    static sink out;
    mb_text_stream ts;
    /* A 700-byte piece, with 3-byte characters across the part boundaries. */
    char piece[700];
    for (size_t i = 0; i < sizeof piece; i += 7)
        memcpy(piece + i,
               "ab\xe2\x82\xac"
               "cd",
               7); /* "ab€cd" */
    mb_text_stream_init(&ts, NULL, collect, &out);
    CHECK_EQ_INT(mb_text_stream_push(&ts, piece, sizeof piece), 0);
    mb_text_stream_finish(&ts, 0);
    CHECK_EQ_INT(out.n, sizeof piece);
    CHECK(memcmp(out.text, piece, sizeof piece) == 0);

    /* A 3000-byte stop string whose first 2999 bytes arrive, in pieces, after
     * 1000 bytes of text, then more text: nothing of the possible stop string
     * is released until it turns out not to be one. */
    static char stop_text[3001];
    memset(stop_text, 's', 3000);
    const char *stops[] = {stop_text, NULL};
    memset(&out, 0, sizeof out);
    mb_text_stream_init(&ts, stops, collect, &out);
    char text[1000];
    memset(text, 't', sizeof text);
    CHECK_EQ_INT(mb_text_stream_push(&ts, text, sizeof text), 0);
    for (int i = 0; i < 2999; i += 100)
        CHECK_EQ_INT(mb_text_stream_push(&ts, stop_text, i + 100 <= 2999 ? 100 : 2999 - i), 0);
    CHECK_EQ_INT(out.n, 1000);                         /* the 2999 bytes are held */
    CHECK_EQ_INT(mb_text_stream_push(&ts, "s", 1), 1); /* the stop string: found */
    mb_text_stream_finish(&ts, 1);
    CHECK_EQ_INT(out.n, 1000);
    /* Not a stop string after all: then it is all released, in order. */
    memset(&out, 0, sizeof out);
    mb_text_stream_init(&ts, stops, collect, &out);
    for (int i = 0; i < 2999; i += 100)
        mb_text_stream_push(&ts, stop_text, i + 100 <= 2999 ? 100 : 2999 - i);
    CHECK_EQ_INT(mb_text_stream_push(&ts, "x", 1), 0);
    mb_text_stream_finish(&ts, 0);
    CHECK_EQ_INT(out.n, 3000);
    CHECK(out.n == 3000 && out.text[2999] == 'x' && out.text[0] == 's');
    return mbt_finish();
}
