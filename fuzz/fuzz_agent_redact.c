/* Fuzz the redactor: any bytes must redact and unredact without a crash or
 * leak, and whenever the input holds nothing that looks like a placeholder
 * ("[KIND_N]"), unredacting the redacted text must give the input back
 * byte for byte. The input is redacted in two calls through one redactor,
 * so values seen in the first half are reused in the second. A mismatch
 * abort()s: that is the finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/redact.h"

/* "[" followed by an upper-case kind name and "_": what mb_unredact reads. */
static int looks_like_placeholder(const uint8_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (d[i] != '[') continue;
        for (int k = 0; k < MB_PII_KIND_COUNT; k++) {
            const char *name = mb_pii_kind_name((mb_pii_kind)k);
            size_t l = strlen(name);
            if (n - i - 1 > l && !memcmp(d + i + 1, name, l) && d[i + 1 + l] == '_') return 1;
        }
    }
    return 0;
}

static void round_trip(mb_redactor *r, const uint8_t *d, size_t n, int check) {
    char *out = NULL, *back = NULL;
    size_t on = 0, bn = 0;
    if (mb_redact(r, (const char *)d, n, &out, &on) != MB_OK) return;
    if (strlen(out) > on) abort(); /* the length covers the text */
    if (mb_unredact(r, out, on, &back, &bn) != MB_OK) {
        free(out);
        return;
    }
    if (check && (bn != n || memcmp(back, d, n))) abort();
    free(out);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_redactor *r = NULL;
    if (mb_redactor_new(&r) != MB_OK) return 0;
    int check = !looks_like_placeholder(data, size);
    size_t half = size / 2;
    round_trip(r, data, half, check);
    round_trip(r, data + half, size - half, check);
    (void)mb_text_has_pii((const char *)data, size);
    mb_redactor_free(r);
    return 0;
}
