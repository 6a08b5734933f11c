/* Calibration from the command line, shared by calibrate and quantize
 * --smooth --calib (cmd_calibrate.c). */
#ifndef MB_TOOLS_CALIBRATE_CLI_H
#define MB_TOOLS_CALIBRATE_CLI_H

#include "matchbox/quantize.h"

/* Load MODEL, run it over the text in TEXT_PATH (N_CHUNKS, N_CTX: 0 for
 * the defaults: 32 chunks of min(512, trained context)) and return a new
 * importance matrix in *OUT. 0 on success, 1 with the error printed. */
int calibrate_cli_run(const char *model, const char *text_path, int n_chunks, int n_ctx,
                      int n_threads, mb_imatrix **out);

/* An mb_progress_fn that prints the library's progress reports to stderr. */
void calibrate_cli_progress(void *user, const char *text);

#endif
