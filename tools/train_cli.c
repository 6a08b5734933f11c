/* The training commands' shared options (train_cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "train_cli.h"

const char train_cli_help[] =
    "  -o OUT.gguf       the trained model (F32 with resumable train state, or F16)\n"
    "  --f16             write OUT in F16 (for matchbox quantize; not resumable)\n"
    "  --resume CKPT     continue from a checkpoint (or an F32 OUT) exactly\n"
    "  --ckpt PATH       where checkpoints go (default OUT.ckpt.gguf)\n"
    "  --seed N          override the config's seed\n"
    "  --steps N         override the config's steps\n"
    "  --stop-at N       end after step N (the schedule still runs to steps); resumable\n"
    "  --set KEY=VALUE   override any config key (repeatable)\n"
    "  --val-split F     held-out fraction at the end of the corpus (default 0.05)\n"
    "  --val FILE        validate on FILE's text instead (CORPUS is all trained on)\n"
    "  -t N              threads (default: physical cores)\n"
    "  -q                no progress lines\n";

void train_cli_init(train_cli *t) {
    memset(t, 0, sizeof *t);
    mb_train_config_default(&t->c);
    t->run = mb_train_default_params();
    t->seed = t->steps = -1;
}

int train_cli_flag(int argc, char **argv, int *i, train_cli *t) {
    const char *a = argv[*i], *v;
    mb_train_params *run = &t->run;
    if (!strcmp(a, "-o")) {
        if (!(run->out_path = cli_value(argc, argv, i))) return -1;
    } else if (!strcmp(a, "--resume")) {
        if (!(run->resume_path = cli_value(argc, argv, i))) return -1;
    } else if (!strcmp(a, "--ckpt")) {
        if (!(run->ckpt_path = cli_value(argc, argv, i))) return -1;
    } else if (!strcmp(a, "--f16")) {
        run->f16 = true;
    } else if (!strcmp(a, "-q")) {
        t->quiet = true;
    } else if (!strcmp(a, "--seed")) {
        if (!(v = cli_value(argc, argv, i)) || !cli_int(a, v, 0, 1L << 62, &t->seed)) return -1;
    } else if (!strcmp(a, "--steps")) {
        if (!(v = cli_value(argc, argv, i)) || !cli_int(a, v, 1, 1L << 30, &t->steps)) return -1;
    } else if (!strcmp(a, "--stop-at")) {
        long n;
        if (!(v = cli_value(argc, argv, i)) || !cli_int(a, v, 1, 1L << 30, &n)) return -1;
        run->stop_at = (int)n;
    } else if (!strcmp(a, "-t")) {
        if (!(v = cli_value(argc, argv, i)) || !cli_int(a, v, 1, 256, &t->threads)) return -1;
    } else if (!strcmp(a, "--val-split")) {
        double f;
        if (!(v = cli_value(argc, argv, i)) || !cli_float(a, v, &f)) return -1;
        run->val_split = (float)f;
    } else if (!strcmp(a, "--val")) {
        if (!(run->val_path = cli_value(argc, argv, i))) return -1;
    } else if (!strcmp(a, "--set")) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        if (strlen(t->sets) + strlen(v) + 2 > sizeof t->sets) {
            cli_fail("too many --set");
            return -1;
        }
        strcat(t->sets, v);
        strcat(t->sets, "\n");
    } else {
        return 0;
    }
    return 1;
}

/* The model and the checkpoints the run will write (train_cli.h). */
static int check_outputs(const mb_train_params *run) {
    char ckpt[4096];
    if (!cli_check_output(run->out_path)) return 0;
    if ((size_t)snprintf(ckpt, sizeof ckpt, "%s.ckpt.gguf", run->out_path) >= sizeof ckpt)
        return cli_fail("-o %s: the name is too long", run->out_path), 0;
    return cli_check_output(run->ckpt_path ? run->ckpt_path : ckpt);
}

int train_cli_finish(train_cli *t, const char *config_path) {
    if (!check_outputs(&t->run)) return 1;
    if ((config_path && mb_train_config_load(&t->c, config_path) != MB_OK) ||
        mb_train_config_parse(&t->c, t->sets, "--set") != MB_OK)
        return cli_fail(NULL);
    if (t->seed >= 0) t->c.seed = (uint64_t)t->seed;
    if (t->steps > 0) t->c.steps = (int)t->steps;
    if (t->threads > 0) t->run.n_threads = (int)t->threads;
    if (!t->quiet) {
        t->run.progress = train_cli_progress;
        t->run.log = train_cli_log;
    }
    return 0;
}

static void fmt_time(char *buf, size_t cap, double s) {
    long x = (long)(s + 0.5);
    if (x >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", x / 3600, x / 60 % 60);
    else
        snprintf(buf, cap, "%ldm%02lds", x / 60, x % 60);
}

void train_cli_progress(const mb_train_progress *p, void *user) {
    (void)user;
    char eta[32], vbuf[32] = "";
    fmt_time(eta, sizeof eta, p->eta_seconds);
    if (p->val_loss >= 0) snprintf(vbuf, sizeof vbuf, " | val %.4f", p->val_loss);
    fprintf(stderr, "step %5d/%d | loss %.4f%s | lr %.2e | norm %.3f | %.0f tok/s | ETA %s\n",
            p->step, p->steps, p->loss, vbuf, p->lr, p->grad_norm, p->tok_per_s, eta);
}

void train_cli_log(const char *text, void *user) {
    (void)user;
    fputs(text, stderr);
}
