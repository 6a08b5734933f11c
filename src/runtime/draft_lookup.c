/* Prompt-lookup drafting: text that repeats its context (a summary quoting
 * its source, an edit of a given text, code completed from above) is
 * predicted by finding where its last few tokens occurred before and
 * proposing what came next there. No model is run. */
#include "runtime/draft.h"

#include <string.h>

int mb_draft_lookup(const mb_token *ctx, int n, int ngram_max, int k, mb_token *out) {
    if (k <= 0 || n < 2) return 0;
    /* Longer n-grams first: a longer match predicts the continuation better. */
    for (int g = ngram_max < n - 1 ? ngram_max : n - 1; g >= 1; g--) {
        const mb_token *suffix = ctx + n - g;
        /* The most recent earlier occurrence: text repeats what is near. */
        for (int j = n - g - 1; j >= 0; j--) {
            if (ctx[j] != suffix[0] || memcmp(ctx + j, suffix, (size_t)g * sizeof *ctx)) continue;
            int from = j + g, m = n - from < k ? n - from : k;
            memcpy(out, ctx + from, (size_t)m * sizeof *out);
            return m;
        }
    }
    return 0;
}
