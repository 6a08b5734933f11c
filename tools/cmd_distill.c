/* matchbox distill TEACHER.gguf --student CONFIG CORPUS -o STUDENT.gguf:
 * knowledge distillation (docs/TRAINING.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "matchbox/train.h"
#include "train_cli.h"

static void usage(void) {
    printf("usage: matchbox distill TEACHER.gguf --student CONFIG CORPUS -o STUDENT.gguf "
           "[options]\n\n"
           "Train the student model of CONFIG (a matchbox train config; its tokenizer\n"
           "defaults to the teacher's) on CORPUS against TEACHER: loss = alpha T^2\n"
           "KL(teacher_T || student_T) + (1 - alpha) cross-entropy on the data.\n\n"
           "  --student CONFIG  the student's shape and hyper-parameters\n"
           "  --temp T          softening temperature (default 2)\n"
           "  --alpha A         weight of the KL term, 0..1 (default 0.5)\n"
           "  --topk K          cache the teacher's top K logits per position, computed\n"
           "                    once over aligned windows (default 0: full distribution,\n"
           "                    computed for every window as it is drawn)\n"
           "  --init-from-teacher  start from a slice of the teacher (evenly spaced\n"
           "                    layers, leading rows and columns) instead of random\n%s",
           train_cli_help);
}

int cmd_distill(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL}, *config = NULL;
    int n_pos = 0;
    train_cli t;
    train_cli_init(&t);
    mb_distill_params p = mb_distill_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int r = train_cli_flag(argc, argv, &i, &t);
        if (r < 0) return 1;
        if (r > 0) continue;
        double f;
        long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--student")) {
            if (!(config = cli_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--temp")) {
            if (!(v = cli_value(argc, argv, &i)) ||
                !cli_float_in(a, v, 0, 1e6, 1, "more than 0", &f))
                return 1;
            p.temperature = (float)f;
        } else if (!strcmp(a, "--alpha")) {
            if (!(v = cli_value(argc, argv, &i)) ||
                !cli_float_in(a, v, 0, 1, 0, "between 0 and 1", &f))
                return 1;
            p.alpha = (float)f;
        } else if (!strcmp(a, "--topk")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, 1 << 20, &n)) return 1;
            p.topk = (int)n;
        } else if (!strcmp(a, "--init-from-teacher")) {
            p.init_from_teacher = true;
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("unknown option '%s' (see matchbox distill --help)", a);
        } else if (n_pos < 2) {
            pos[n_pos++] = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
    }
    if (n_pos < 2 || !config || !t.run.out_path) {
        usage();
        return 1;
    }
    p.teacher_path = pos[0];
    /* The student shares the teacher's vocabulary unless its config names
     * another tokenizer file. */
    snprintf(t.c.tokenizer, sizeof t.c.tokenizer, "%s", pos[0]);
    if (train_cli_finish(&t, config)) return 1;
    t.run.corpus_path = pos[1];
    mb_train_result r;
    if (mb_distill(&t.c, &t.run, &p, &r) != MB_OK) return cli_fail(NULL);
    printf("wrote %s: first loss %.4f, last loss %.4f, val loss %.4f (cross-entropy), "
           "%.0f tok/s\n",
           t.run.out_path, r.first_loss, r.last_loss, r.last_val_loss, r.tok_per_s);
    return 0;
}
