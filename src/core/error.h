/* Error reporting: a thread-local message set by the failing call. */
#ifndef MB_CORE_ERROR_H
#define MB_CORE_ERROR_H

#include "matchbox.h"

#if defined(__GNUC__)
#define MB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MB_PRINTF(a, b)
#endif

/* Set this thread's message and return STATUS, so callers can write
 * `return mb_errorf(MB_ERR_FORMAT, "tensor '%s': ...", name);`. */
mb_status mb_errorf(mb_status status, const char *fmt, ...) MB_PRINTF(2, 3);

/* Prefix the current message with context ("loading model.gguf: ...") and
 * return STATUS unchanged. */
mb_status mb_error_prefix(mb_status status, const char *fmt, ...) MB_PRINTF(2, 3);

void mb_error_clear(void);

#endif
