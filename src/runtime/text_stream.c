/* The text stream of generation (text_stream.h). */
#include "runtime/text_stream.h"

#include <string.h>

void mb_text_stream_init(mb_text_stream *o, const char *const *stop, mb_text_cb on_text,
                         void *user) {
    memset(o, 0, sizeof *o);
    o->stop = stop, o->on_text = on_text, o->user = user;
    mb_utf8_stream_init(&o->utf8);
}

/* Bytes at the end of the pending text that a stop string could begin with. */
static size_t stop_holdback(const mb_text_stream *o) {
    size_t hold = 0;
    for (const char *const *st = o->stop; st && *st; st++) {
        size_t sl = strlen(*st);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
            if (k <= o->len && memcmp(o->buf + o->len - k, *st, k) == 0) {
                hold = k;
                break;
            }
    }
    return hold;
}

static void emit(mb_text_stream *o, size_t n) {
    if (n == 0) return;
    if (o->on_text && !o->cancelled && o->on_text(o->buf, n, o->user)) o->cancelled = 1;
    memmove(o->buf, o->buf + n, o->len - n);
    o->len -= n;
}

/* Append whole characters; returns 1 if a stop string now appears (the text
 * before it has been emitted). */
static int text_append(mb_text_stream *o, const char *text, size_t n) {
    /* After each append only a stop string's possible start is held back,
     * shorter than MB_TEXT_MAX_STOP (mb_generate checks), so N <= MB_TEXT_PART + 4
     * bytes always fit: nothing that may start a stop string is flushed. */
    memcpy(o->buf + o->len, text, n);
    o->len += n;
    for (const char *const *st = o->stop; st && *st; st++) {
        size_t sl = strlen(*st);
        if (sl == 0 || sl > o->len) continue;
        for (size_t at = 0; at + sl <= o->len; at++)
            if (memcmp(o->buf + at, *st, sl) == 0) {
                emit(o, at);
                o->len = 0;
                return 1;
            }
    }
    emit(o, o->len - stop_holdback(o));
    return 0;
}

/* A token's text, however long, in parts of MB_TEXT_PART bytes. */
int mb_text_stream_push(mb_text_stream *o, const char *piece, size_t n) {
    for (size_t at = 0; at < n || (n == 0 && at == 0); at += MB_TEXT_PART) {
        char whole[MB_TEXT_PART + 4];
        size_t n_whole = 0, part = n - at < MB_TEXT_PART ? n - at : MB_TEXT_PART;
        mb_utf8_stream_push(&o->utf8, piece + at, part, whole, sizeof whole, &n_whole);
        if (text_append(o, whole, n_whole)) return 1;
        if (n == 0) break;
    }
    return 0;
}

/* End of generation: release an unfinished character as is, then the rest. */
void mb_text_stream_finish(mb_text_stream *o, int stopped) {
    char tail[4];
    size_t n = mb_utf8_stream_flush(&o->utf8, tail);
    if (!stopped && n > 0) text_append(o, tail, n);
    emit(o, o->len);
}
