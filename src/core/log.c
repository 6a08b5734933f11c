/* The log callback. One process-wide callback and its user pointer, read
 * together under a lock (a message never sees one's fn with the other's
 * user) and called outside it, so callbacks on several threads run at once. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static mb_log_fn log_fn;
static void *log_user;

void mb_log_set(mb_log_fn fn, void *user) {
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
}

void mb_log(mb_log_level level, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    mb_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_lock);
    if (fn)
        fn(level, msg, user);
    else
        fputs(msg, stderr);
}
