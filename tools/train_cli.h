/* Options shared by the training commands (train, distill, finetune):
 * output, resume, checkpoints, seed, steps, --set, validation, threads. */
#ifndef MB_TOOLS_TRAIN_CLI_H
#define MB_TOOLS_TRAIN_CLI_H

#include <stdbool.h>

#include "matchbox/train.h"

typedef struct {
    mb_train_config c;
    mb_train_params run;
    char sets[4096]; /* --set lines */
    long seed, steps, threads;
    bool quiet; /* -q: no progress lines */
} train_cli;

void train_cli_init(train_cli *t);
/* Parse one shared flag at argv[*i], advancing *i past its value. Returns 1
 * if it was one, 0 if not, -1 after printing an error. */
int train_cli_flag(int argc, char **argv, int *i, train_cli *t);
/* Check the outputs (-o and the checkpoint path, cli_check_output), load
 * CONFIG_PATH (NULL: defaults) into t->c, then apply --set, --seed, --steps
 * and -t, and (unless -q) the progress printers below. Returns 0, or 1
 * after printing the error. */
int train_cli_finish(train_cli *t, const char *config_path);
/* The training progress on stderr (USER unused): one line per step, and
 * the library's messages as they come. */
void train_cli_progress(const mb_train_progress *p, void *user);
void train_cli_log(const char *text, void *user);
/* Help lines for the shared flags. */
extern const char train_cli_help[];

#endif
