/* A small app built against the installed libmatchbox (docs/LIBRARY.md):
 * load a model, tokenize a prompt, generate greedily while the text streams
 * to stdout, then report why generation stopped and the token counts.
 *
 *   cc app.c $(pkg-config --cflags --libs matchbox) -o app
 *   ./app model.gguf "Once upon a time" 32
 *
 * It uses only <matchbox.h>. Exit status: 0 on success, 1 on any error
 * (the library's message is printed). */
#include <matchbox.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "app: %s: %s\n", what, mb_last_error());
    return 1;
}

/* Each call brings whole UTF-8 characters, so printing them as they come
 * never splits one. Returning non-zero would stop generation. */
static int on_text(const char *text, size_t len, void *user) {
    int *n_pieces = user;
    (*n_pieces)++;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [PROMPT] [N_TOKENS]\n", argv[0]);
        return 2;
    }
    const char *prompt = argc > 2 ? argv[2] : "Once upon a time";
    int n_predict = argc > 3 ? atoi(argv[3]) : 32;

    /* A shared library newer than the header is fine within one major
     * version (the soname guarantees the major); say which is which. */
    fprintf(stderr, "app: built with matchbox %s, running %s\n", MB_VERSION, mb_version());

    mb_model_params mp = mb_model_default_params();
    mb_model *model = NULL;
    if (mb_model_load(argv[1], &mp, &model) != MB_OK) return fail(argv[1]);

    /* Measure, then tokenize: a call with capacity 0 reports the count. */
    size_t n_ids = 0;
    mb_tokenize(model, prompt, strlen(prompt), 1, 0, NULL, 0, &n_ids);
    mb_token *ids = malloc((n_ids ? n_ids : 1) * sizeof *ids);
    if (!ids || mb_tokenize(model, prompt, strlen(prompt), 1, 0, ids, n_ids, &n_ids) != MB_OK) {
        free(ids);
        mb_model_free(model);
        return fail("tokenize");
    }

    mb_session_params sp = mb_session_default_params(); /* threads: the physical cores */
    mb_sampler_params smp = mb_sampler_default_params();
    smp.temperature = 0; /* greedy: the same text on every run */
    mb_session *session = NULL;
    mb_sampler *sampler = NULL;
    int rc = 1;
    if (mb_session_new(model, &sp, &session) != MB_OK) {
        fail("session");
        goto done;
    }
    if (mb_sampler_new(&smp, mb_model_n_vocab(model), &sampler) != MB_OK) {
        fail("sampler");
        goto done;
    }

    int n_pieces = 0;
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = n_predict;
    gp.on_text = on_text;
    gp.user = &n_pieces;
    mb_generate_stats st;
    fputs(prompt, stdout);
    if (mb_generate(session, sampler, ids, n_ids, &gp, &st) != MB_OK) {
        fail("generate");
        goto done;
    }
    printf("\n");
    fprintf(stderr, "app: stop: %s; prompt %d tokens, generated %d tokens (%d text pieces)\n",
            mb_stop_reason_str(st.stop_reason), st.n_prompt, st.n_generated, n_pieces);
    rc = 0;
done:
    mb_sampler_free(sampler);
    mb_session_free(session);
    free(ids);
    mb_model_free(model);
    return rc;
}
