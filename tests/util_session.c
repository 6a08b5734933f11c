/* Sessions as the runtime tests open them (test_util.h). */
#include "test_util.h"

mb_session *mbt_session(mb_model *m, int n_ctx) {
    mb_session_params sp = mb_session_default_params();
    sp.n_ctx = n_ctx;
    sp.n_threads = 2;
    mb_session *s = NULL;
    CHECK_OK(mb_session_new(m, &sp, &s));
    return s;
}
