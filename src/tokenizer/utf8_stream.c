#include "tokenizer/utf8_stream.h"

#include <string.h>

#include "core/error.h"

int mb_utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    /* The allowed range of the second byte depends on the lead byte; the
     * narrowed ranges rule out overlongs (E0, F0), surrogates (ED) and code
     * points past U+10FFFF (F4). Later bytes are always 80..BF. */
    int len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0;
        if (s[i] < lo || s[i] > hi) return -1;
        lo = 0x80;
        hi = 0xBF;
    }
    return len;
}

int mb_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int k = mb_utf8_seq_len(p + i, n - i);
        if (k <= 0) return 0;
        i += (size_t)k;
    }
    return 1;
}

void mb_utf8_stream_init(mb_utf8_stream *s) {
    s->n_pend = 0;
}

mb_status mb_utf8_stream_push(mb_utf8_stream *s, const char *in, size_t n, char *out, size_t cap,
                              size_t *n_out) {
    *n_out = 0;
    if (n > 0 && !in) return mb_errorf(MB_ERR_INVALID_ARG, "utf8 stream: NULL input");
    size_t total = s->n_pend + n;
    if (cap < total)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "utf8 stream: output room %zu is less than the %zu bytes it may release",
                         cap, total);
    if (total == 0) return MB_OK;
    /* Bytes are released unchanged, only the cut point is decided, so lay
     * the pending bytes and the input out in OUT and scan them in place. */
    memcpy(out, s->pend, s->n_pend);
    if (n > 0) memcpy(out + s->n_pend, in, n);
    const unsigned char *p = (const unsigned char *)out;
    size_t i = 0;
    while (i < total) {
        int k = mb_utf8_seq_len(p + i, total - i);
        if (k == 0) break; /* an unfinished character at the end: keep it */
        i += k > 0 ? (size_t)k : 1;
    }
    s->n_pend = total - i;
    memcpy(s->pend, p + i, s->n_pend);
    *n_out = i;
    return MB_OK;
}

size_t mb_utf8_stream_flush(mb_utf8_stream *s, char *out) {
    size_t n = s->n_pend;
    memcpy(out, s->pend, n);
    s->n_pend = 0;
    return n;
}
