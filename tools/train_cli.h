/* Options shared by the training commands (train, distill, finetune):
 * output, resume, checkpoints, seed, steps, --set, validation, threads. */
#ifndef MB_TOOLS_TRAIN_CLI_H
#define MB_TOOLS_TRAIN_CLI_H

#include "train/train.h"

typedef struct {
    mb_train_config c;
    mb_train_run run;
    char sets[4096]; /* --set lines */
    long seed, steps, threads;
} train_cli;

void train_cli_init(train_cli *t);
/* Parse one shared flag at argv[*i], advancing *i past its value. Returns 1
 * if it was one, 0 if not, -1 after printing an error. */
int train_cli_flag(int argc, char **argv, int *i, train_cli *t);
/* Check the outputs (-o and the checkpoint path, cli_check_output), load
 * CONFIG_PATH (NULL: defaults) into t->c, then apply --set, --seed, --steps
 * and -t. Returns 0, or 1 after printing the error. */
int train_cli_finish(train_cli *t, const char *config_path);
/* Help lines for the shared flags. */
extern const char train_cli_help[];

#endif
