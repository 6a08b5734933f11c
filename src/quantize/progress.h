/* Progress reports of the quantization layer go to the caller's callback
 * (mb_progress_fn, matchbox/quantize.h), formatted here. */
#ifndef MB_QUANTIZE_PROGRESS_H
#define MB_QUANTIZE_PROGRESS_H

#include "matchbox/quantize.h"

/* Format and pass to FN (NULL: nothing is formatted). Reports longer than
 * 1 KiB are cut: they are one line each. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
void mb_progressf(mb_progress_fn fn, void *user, const char *fmt, ...);

#endif
