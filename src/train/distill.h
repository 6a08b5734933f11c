/* Knowledge distillation: a student trained by the trainer's loop against a
 * teacher model run by the inference engine (docs/TRAINING.md). */
#ifndef MB_TRAIN_DISTILL_H
#define MB_TRAIN_DISTILL_H

#include "train/train.h"

typedef struct {
    const char *teacher_path; /* any GGUF matchbox runs, with the student's vocabulary */
    float temperature;        /* T > 0 (default 2) */
    float alpha;              /* weight of the KL term, in [0, 1] (default 0.5) */
    /* 0: the teacher's full distribution, computed for every window as it
     * is drawn; K > 0: its top K logits, computed once for every aligned
     * window of the corpus before training and kept in memory. */
    int topk;
    /* Start the student from a slice of the teacher (evenly spaced layers,
     * leading rows/columns of each matrix) instead of random weights. */
    int init_from_teacher;
} mb_distill_params;

/* Train the student of config C on RUN's corpus against the teacher. */
mb_status mb_distill(const mb_train_config *c, mb_train_run *run, const mb_distill_params *p);

#endif
