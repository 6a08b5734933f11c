#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { MSG_CAP = 1024 };
static _Thread_local char last_message[MSG_CAP];

const char *mb_status_str(mb_status status) {
    switch (status) {
    case MB_OK: return "ok";
    case MB_ERR_IO: return "I/O error";
    case MB_ERR_FORMAT: return "format error";
    case MB_ERR_UNSUPPORTED: return "unsupported";
    case MB_ERR_INVALID_ARG: return "invalid argument";
    case MB_ERR_NO_MEMORY: return "out of memory";
    case MB_ERR_CONTEXT_FULL: return "context full";
    case MB_ERR_ABORTED: return "aborted";
    case MB_ERR_BUSY: return "busy";
    }
    return "unknown status";
}

const char *mb_last_error(void) {
    return last_message;
}

void mb_error_clear(void) {
    last_message[0] = '\0';
}

mb_status mb_errorf(mb_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, MSG_CAP, fmt, ap);
    va_end(ap);
    return status;
}

mb_status mb_error_prefix(mb_status status, const char *fmt, ...) {
    char old[MSG_CAP];
    memcpy(old, last_message, MSG_CAP);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_message, MSG_CAP, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < MSG_CAP - 2) {
        size_t used = (size_t)n;
        last_message[used++] = ':';
        last_message[used++] = ' ';
        size_t room = MSG_CAP - used - 1, len = strlen(old);
        memcpy(last_message + used, old, len < room ? len : room);
        last_message[used + (len < room ? len : room)] = '\0';
    }
    return status;
}
