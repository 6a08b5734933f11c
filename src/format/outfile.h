/* Output files written atomically: a temporary next to the target, then a
 * rename. The checks a command makes before any work, temporaries named
 * TARGET.tmp.PID.XXXXXX so a later run can tell which ones are stale, and
 * their removal when the process is stopped by a signal. */
#ifndef MB_FORMAT_OUTFILE_H
#define MB_FORMAT_OUTFILE_H

#include <stdio.h>

#include "matchbox.h"

/* Whether PATH can be written by a rename: a name (not empty, not ending in
 * '/'), not an existing directory, device, FIFO or socket (those are never
 * replaced), in a directory that exists and is writable. MB_OK, or an error
 * with its message set. */
mb_status mb_outfile_check(const char *path);

/* Create PATH's temporary, PATH.tmp.PID.XXXXXX, with the mode of an existing
 * PATH (else 0644), registered so that mb_outfile_unlink_all removes it.
 * *TMP gets its malloc'd name. Returns the open descriptor, or -1 with the
 * error set (and *TMP NULL). */
int mb_outfile_create(const char *path, char **tmp);

/* Rename TMP (written and closed) over PATH, after checking again that PATH
 * is no directory or device, then sync the directory. TMP is forgotten and
 * freed either way; on failure it is removed. */
mb_status mb_outfile_commit(char *tmp, const char *path);

/* Remove TMP, forget and free it (NULL: nothing). */
void mb_outfile_discard(char *tmp);

/* Unlink every registered temporary. Async-signal-safe: for a handler of
 * SIGINT or SIGTERM. */
void mb_outfile_unlink_all(void);

/* Look for PATH's temporaries left by earlier runs: those whose process has
 * ended are removed; ones still being written by a live process, and ones
 * named without a process id (older versions), are only reported. Each is
 * reported on REPORT (may be NULL). Returns how many were removed. */
int mb_outfile_sweep(const char *path, FILE *report);

#endif
