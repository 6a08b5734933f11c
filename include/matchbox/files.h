/* matchbox/files.h: output files written atomically.
 *
 * Every file the library writes (GGUF models, importance matrices, logits)
 * goes through these: a temporary next to the target, named
 * TARGET.tmp.PID.XXXXXX so a later run can tell whose it is, written in
 * full, then renamed over the target. A reader therefore sees the old file
 * or the new one, never half of one. An app writing its own outputs can use
 * the same helpers, and the same cleanup when it is stopped by a signal.
 *
 * Thread-safety: all functions may be called from any thread; the registry
 * of live temporaries is guarded by a lock (mb_outfile_unlink_all reads it
 * without one, which is what makes it safe in a signal handler). */
#ifndef MATCHBOX_FILES_H
#define MATCHBOX_FILES_H

#include <stdio.h>

#include <matchbox.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether PATH can be written by a rename: a name (not empty, not ending in
 * '/'), not an existing directory, device, FIFO or socket (those are never
 * replaced), in a directory that exists and is writable. Call it before
 * any long work so a bad output name fails first. Returns MB_OK, or an
 * error with its message set (mb_last_error); it changes nothing on disk. */
MB_API mb_status mb_outfile_check(const char *path);

/* Create PATH's temporary, PATH.tmp.PID.XXXXXX, with the mode of an
 * existing PATH (else 0644), registered so that mb_outfile_unlink_all
 * removes it. *TMP gets its name, owned by the library until it is passed
 * to mb_outfile_commit or mb_outfile_discard (which free it; never free it
 * yourself). Returns the open descriptor, which the caller writes and
 * closes, or -1 with the error set, *TMP NULL and nothing created. */
MB_API int mb_outfile_create(const char *path, char **tmp);

/* Rename TMP (written and closed) over PATH, after checking again that PATH
 * is no directory or device, then sync the directory. TMP is forgotten and
 * freed either way; on failure it is removed and PATH is untouched. */
MB_API mb_status mb_outfile_commit(char *tmp, const char *path);

/* Remove the temporary TMP, forget and free it (NULL: nothing). */
MB_API void mb_outfile_discard(char *tmp);

/* Unlink every registered temporary of this process. Async-signal-safe:
 * meant for a handler of SIGINT or SIGTERM, which then exits. */
MB_API void mb_outfile_unlink_all(void);

/* Look for PATH's temporaries left by earlier runs: those whose process
 * has ended are removed; ones still being written by a live process, and
 * ones named without a process id (older versions), are only reported.
 * Each is reported with one line on REPORT (NULL: silent). Returns how
 * many were removed. */
MB_API int mb_outfile_sweep(const char *path, FILE *report);

#ifdef __cplusplus
}
#endif

#endif
