/* UTF-8 helpers: sequence validation, and a stream that releases decoded
 * token bytes only in whole characters, so a terminal or an SSE event never
 * receives half of a multi-byte character split across two byte tokens. */
#ifndef MB_TOKENIZER_UTF8_STREAM_H
#define MB_TOKENIZER_UTF8_STREAM_H

#include <stddef.h>

#include "matchbox.h"

/* The well-formed sequence at S (N bytes available), per Unicode's table of
 * well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF):
 * its length 1..4 when complete; 0 when S[0..N) is a proper prefix of a
 * well-formed sequence that needs more bytes; -1 when the byte at S cannot
 * start one (the caller treats that byte alone as invalid). N must be > 0. */
int mb_utf8_seq_len(const unsigned char *s, size_t n);

/* True when all N bytes at S are well-formed UTF-8. */
int mb_utf8_valid(const char *s, size_t n);

typedef struct {
    unsigned char pend[4]; /* the bytes of an incomplete character */
    size_t n_pend;         /* at most 3 */
} mb_utf8_stream;

void mb_utf8_stream_init(mb_utf8_stream *s);

/* Append N bytes and write to OUT every byte that is final: whole characters,
 * and bytes that can no longer become part of a valid character (those are
 * released as they are, so a broken sequence never stalls the output). Up to
 * 3 bytes of an unfinished character stay inside. CAP must be at least
 * N + 3 (always enough); *n_out is the number of bytes written. */
mb_status mb_utf8_stream_push(mb_utf8_stream *s, const char *in, size_t n, char *out, size_t cap,
                              size_t *n_out);

/* Release what is left at the end of the stream (an unfinished character, as
 * is) into OUT (room for 3 bytes); returns its length and empties S. */
size_t mb_utf8_stream_flush(mb_utf8_stream *s, char *out);

#endif
