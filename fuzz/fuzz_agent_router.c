/* Fuzz the router file's parser (tools/agent/router_lr.c): any bytes must
 * parse or fail with a message, never crash or leak; a router that parses
 * has finite weights and positive scales, so its probability is a number in
 * [0, 1] for any finite features (else abort(): the finding). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "agent/router_lr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mb_router_lr r;
    if (mb_router_lr_parse((const char *)data, size, "fuzz", &r) != MB_OK) return 0;
    double x[MB_N_FEAT];
    for (int i = 0; i < MB_N_FEAT; i++)
        x[i] = (double)i - 3;
    double p = mb_router_lr_prob(&r, x);
    if (!(p >= 0 && p <= 1)) abort();
    if (r.n_draft < 1 || !(r.low_p > 0 && r.low_p < 1)) abort();
    return 0;
}
