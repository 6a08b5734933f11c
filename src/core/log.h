/* The library's messages: every one goes through mb_log, which hands it to
 * the callback set with mb_log_set (matchbox.h), or writes it to stderr. */
#ifndef MB_CORE_LOG_H
#define MB_CORE_LOG_H

#include "core/error.h"

/* Format and deliver one message (as printf would print it: end a line
 * with "\n"). Messages longer than 2 KiB are cut there. */
void mb_log(mb_log_level level, const char *fmt, ...) MB_PRINTF(2, 3);

#endif
