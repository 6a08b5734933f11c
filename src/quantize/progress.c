/* Formatted progress reports (progress.h). */
#include "quantize/progress.h"

#include <stdarg.h>
#include <stdio.h>

void mb_progressf(mb_progress_fn fn, void *user, const char *fmt, ...) {
    if (!fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(user, buf);
}
