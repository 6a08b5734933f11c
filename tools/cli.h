/* Helpers shared by the subcommands: argument parsing and model lookup. */
#ifndef MB_TOOLS_CLI_H
#define MB_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"

/* Print "error: <message>" (with mb_last_error() when MSG is NULL); returns 1. */
int cli_fail(const char *fmt, ...);

/* Parse a whole-string number; print an error naming FLAG and return 0 on failure. */
int cli_int(const char *flag, const char *s, long lo, long hi, long *out);
int cli_float(const char *flag, const char *s, double *out);
/* A size in bytes: a number with an optional K, M, G or T (powers of 1024,
 * "KiB"/"KB" spellings too), e.g. 512M or 1.5G. 0 after printing an error. */
int cli_size(const char *flag, const char *s, unsigned long long *out);
/* The value after FLAG at argv[*i]; advances *i. NULL (and an error) if missing. */
const char *cli_value(int argc, char **argv, int *i);
/* cli_float, then LO <= value <= HI (LO itself excluded when LO_OPEN); the
 * error says the value must be RANGE ("between 0 and 1"). */
int cli_float_in(const char *flag, const char *s, double lo, double hi, int lo_open,
                 const char *range, double *out);

/* The model to use when none is named: $MATCHBOX_MODEL, then the cache
 * directory ($XDG_CACHE_HOME or ~/.cache)/matchbox/models/default.gguf, then
 * ../shared/models/stories260K.gguf. Returns NULL after printing how to get
 * one. */
const char *cli_default_model(void);

/* A byte count from /proc/self/status: FIELD "VmRSS" (resident now) or
 * "VmHWM" (the peak). 0 where it cannot be read. */
uint64_t cli_proc_status_bytes(const char *field);

/* True if ARG names a model file rather than a prompt: it ends in .gguf or
 * exists (a directory, device or FIFO too, so that loading it says what it
 * is instead of taking it for a prompt). */
int cli_looks_like_model(const char *arg);

/* An output file the command will write (a model, logits, statistics):
 * refuse, before any work, a PATH that is an existing directory, device, FIFO
 * or socket, or whose directory is missing or not writable; then remove the
 * temporaries of PATH that earlier, ended runs left (and report others).
 * 1 if PATH will do; 0 after printing the error. */
int cli_check_output(const char *path);

/* SIGINT and SIGTERM (unless ignored) remove the temporaries of the outputs
 * being written, then end the process as the signal would. */
void cli_cleanup_on_signals(void);

/* Read a whole file or stdin (PATH "-") into a NUL-terminated buffer. */
char *cli_read_all(const char *path, size_t *len);

/* --chat-template-file PATH (NULL: nothing to do): MODEL renders that Jinja
 * template instead of its own. 1 on success; 0 after printing the error. */
int cli_chat_template_file(mb_model *model, const char *path);

/* The conversation "SYSTEM (optional), then USER" rendered with MODEL's
 * template (or the family OVERRIDE) and tokenized as a chat is (BOS unless
 * the text starts with it, special tokens parsed). malloc'd ids; NULL after
 * printing the error. *text (may be NULL) gets the rendered text (free it). */
mb_token *cli_chat_prompt(const mb_model *model, const char *override, const char *system,
                          const char *user, size_t *n_ids, char **text);

#endif
