/* The tools' message, and which came last: a tool_errorf notes the
 * library's message as it was then; when the library's message has changed
 * since, the library failed later and its message is the one to show. */
#include "common/tool_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char message[1024];
static _Thread_local char lib_then[256];
static _Thread_local int have;

mb_status tool_errorf(mb_status status, const char *fmt, ...) {
    char buf[sizeof message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap); /* FMT's arguments may point into MESSAGE */
    va_end(ap);
    memcpy(message, buf, sizeof message);
    snprintf(lib_then, sizeof lib_then, "%s", mb_last_error());
    have = 1;
    return status;
}

const char *tool_last_error(void) {
    if (have && strncmp(lib_then, mb_last_error(), sizeof lib_then - 1) == 0) return message;
    return mb_last_error();
}
