/* Error messages of the tools (the CLI, the server, the agent). The
 * library's message (mb_last_error) is read-only to its callers, so a tool
 * function that fails for a reason of its own leaves its message here;
 * tool_last_error() returns whichever of the two failures came last on
 * this thread. */
#ifndef MB_TOOLS_TOOL_ERROR_H
#define MB_TOOLS_TOOL_ERROR_H

#include <matchbox.h>

#if defined(__GNUC__)
#define TOOL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TOOL_PRINTF(a, b)
#endif

/* Set this thread's tool message and return STATUS:
 * `return tool_errorf(MB_ERR_IO, "%s: %s", path, strerror(errno));`. */
mb_status tool_errorf(mb_status status, const char *fmt, ...) TOOL_PRINTF(2, 3);

/* The message of the last failure on this thread: the tools' own, unless
 * the library has reported a failure since. Never NULL. */
const char *tool_last_error(void);

#endif
