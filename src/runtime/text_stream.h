/* Generated text on its way to the caller: bytes are released only when
 * they end on a whole UTF-8 character and cannot be the start of a stop
 * string, so the caller never sees half a character or part of a stop
 * string; a token's text may be of any length. */
#ifndef MB_RUNTIME_TEXT_STREAM_H
#define MB_RUNTIME_TEXT_STREAM_H

#include <stddef.h>

#include "matchbox.h"
#include "tokenizer/utf8_stream.h"

enum { MB_TEXT_PENDING = 4096, MB_TEXT_PART = 256 };
/* Stop strings must be shorter than this (mb_generate refuses longer ones):
 * the pending text then always has room for the next part. */
enum { MB_TEXT_MAX_STOP = MB_TEXT_PENDING - MB_TEXT_PART - 8 };

typedef struct {
    mb_utf8_stream utf8; /* holds back a character split across tokens */
    char buf[MB_TEXT_PENDING];
    size_t len;
    const char *const *stop;
    mb_text_cb on_text;
    void *user;
    int cancelled; /* on_text asked to stop */
} mb_text_stream;

void mb_text_stream_init(mb_text_stream *o, const char *const *stop, mb_text_cb on_text,
                         void *user);
/* A token's text; returns 1 when a stop string now appears (the text before
 * it has been released, nothing after it will be). */
int mb_text_stream_push(mb_text_stream *o, const char *piece, size_t n);
/* End of generation: an unfinished character as is (unless STOPPED), then
 * everything held. */
void mb_text_stream_finish(mb_text_stream *o, int stopped);

#endif
