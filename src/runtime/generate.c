/* The generation loop: prefill, then sample / stream / feed until an
 * end-of-generation token, a stop string, the token limit or a full context.
 * Text goes out through the text stream (text_stream.h). */
#include <stddef.h>
#include <string.h>

#include "core/error.h"
#include "core/params.h"
#include "core/timer.h"
#include "matchbox.h"
#include "runtime/generate.h"
#include "runtime/grammar.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "runtime/text_stream.h"

mb_generate_params mb_generate_default_params(void) {
    return (mb_generate_params){.struct_size = sizeof(mb_generate_params), .n_predict = 128};
}

const char *mb_stop_reason_str(mb_stop_reason reason) {
    switch (reason) {
    case MB_STOP_MAX_TOKENS: return "max tokens";
    case MB_STOP_EOG: return "end of generation";
    case MB_STOP_STRING: return "stop string";
    case MB_STOP_CALLBACK: return "callback";
    case MB_STOP_CONTEXT_FULL: return "context full";
    case MB_STOP_ABORTED: return "aborted";
    }
    return "unknown";
}

int mb_gen_emit(mb_gen *g, mb_token id, const float *logits, int n_past) {
    const mb_generate_params *params = g->params;
    mb_generate_stats *st = g->st;
    mb_session *s = g->s;
    if (params->on_token && params->on_token(id, logits, g->n_vocab, params->user)) {
        st->stop_reason = MB_STOP_CALLBACK;
        return 1;
    }
    if (mb_token_is_eog(s->model, id)) {
        st->stop_reason = MB_STOP_EOG;
        return 1;
    }
    mb_sampler_accept(g->sampler, id);
    st->n_generated++;
    size_t n_piece = 0;
    mb_status status = mb_token_to_piece(s->model, id, 0, s->piece, s->piece_cap, &n_piece);
    if (status) {
        g->err = mb_error_prefix(status, "the text of token %d", id);
        return -1;
    }
    if (mb_text_stream_push(&g->out, s->piece, n_piece)) {
        st->stop_reason = MB_STOP_STRING;
        return 1;
    }
    if (g->out.cancelled) {
        st->stop_reason = MB_STOP_CALLBACK;
        return 1;
    }
    if (params->n_predict >= 0 && st->n_generated >= params->n_predict) return 1;
    if (n_past >= g->n_ctx) {
        st->stop_reason = MB_STOP_CONTEXT_FULL;
        return 1;
    }
    return 0;
}

/* Sample, emit, feed, one token per forward pass. */
static mb_status plain_generate(mb_gen *g) {
    mb_session *s = g->s;
    mb_generate_stats *st = g->st;
    while (g->params->n_predict < 0 || st->n_generated < g->params->n_predict) {
        const float *logits = mb_session_logits(s);
        if (mb_sampler_grammar_state(g->sampler) == MB_GRAMMAR_ENDED) {
            /* The grammar allows nothing more: as if the model had ended
             * (a vocabulary may have no end-of-generation token). */
            st->stop_reason = MB_STOP_EOG;
            break;
        }
        mb_token id = mb_sampler_sample(g->sampler, logits);
        if (mb_sampler_grammar_state(g->sampler) == MB_GRAMMAR_FAILED)
            return mb_errorf(MB_ERR_UNSUPPORTED,
                             "the grammar needs more than %d parse stacks (or %d stack nodes) "
                             "here: it is too ambiguous",
                             MB_GRAMMAR_MAX_STACKS, MB_GRAMMAR_MAX_NODES);
        int r = mb_gen_emit(g, id, logits, s->n_past);
        if (r < 0) return g->err;
        if (r) break;
        /* An abort while the token is fed stops here, the token not fed:
         * as after the last token of n_predict. */
        mb_status status = mb_session_eval(s, &id, 1);
        if (status == MB_ERR_ABORTED) {
            st->stop_reason = MB_STOP_ABORTED;
            break;
        }
        if (status) return status;
        st->n_forwards++;
    }
    return MB_OK;
}

static mb_status generate(mb_session *s, mb_sampler *sampler, const mb_token *prompt,
                          size_t n_prompt, const mb_generate_params *params,
                          mb_generate_stats *st) {
    const int n_ctx = mb_session_n_ctx(s);
    if (n_prompt == 0) return mb_errorf(MB_ERR_INVALID_ARG, "the prompt is empty");
    for (const char *const *stop = params->stop; stop && *stop; stop++)
        if (strlen(*stop) >= MB_TEXT_MAX_STOP)
            return mb_errorf(MB_ERR_INVALID_ARG, "a stop string of %zu bytes (at most %d)",
                             strlen(*stop), MB_TEXT_MAX_STOP - 1);
    const size_t cached = params->n_cached;
    if (cached && (cached >= n_prompt || (size_t)s->n_past != cached))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "%zu cached prompt tokens, but the session holds %d and the prompt has "
                         "%zu (at least one must be evaluated)",
                         cached, s->n_past, n_prompt);
    if (n_prompt - cached > (size_t)(n_ctx - s->n_past))
        return mb_errorf(MB_ERR_CONTEXT_FULL,
                         "the prompt has %zu tokens but the context has room for %d (-c %d, %d "
                         "used); use a larger -c or a shorter prompt",
                         n_prompt - cached, n_ctx - s->n_past, n_ctx, s->n_past);
    /* The grammar's state follows the sampled tokens one at a time:
     * drafts would have to be checked against it too. */
    const int speculate = mb_speculative_on(params->speculative) &&
                          mb_sampler_grammar_state(sampler) == MB_GRAMMAR_NONE;
    mb_speculative_params spec;
    mb_status status = MB_OK;
    if (speculate && (status = mb_speculative_check(s, params->speculative, &spec))) return status;
    for (size_t i = 0; i < n_prompt; i++)
        mb_sampler_accept(sampler, prompt[i]);
    double t0 = mb_now();
    status = mb_session_eval(s, prompt + cached, n_prompt - cached);
    if (status == MB_ERR_ABORTED) st->stop_reason = MB_STOP_ABORTED;
    if (status) return status;
    st->n_prompt = (int)n_prompt;
    st->n_cached = (int)cached;
    st->prefill_seconds = mb_now() - t0;
    mb_gen g = {.s = s,
                .sampler = sampler,
                .params = params,
                .st = st,
                .n_ctx = n_ctx,
                .n_vocab = mb_model_n_vocab(s->model)};
    mb_text_stream_init(&g.out, params->stop, params->on_text, params->user);
    double t1 = mb_now();
    status = speculate ? mb_speculative_generate(&g, &spec) : plain_generate(&g);
    if (status) return status;
    mb_text_stream_finish(&g.out, st->stop_reason == MB_STOP_STRING);
    st->decode_seconds = mb_now() - t1;
    return MB_OK;
}

mb_status mb_generate(mb_session *s, mb_sampler *sampler, const mb_token *prompt, size_t n_prompt,
                      const mb_generate_params *gen_params, mb_generate_stats *stats) {
    mb_generate_params gp = mb_generate_default_params();
    mb_status status =
        mb_params_merge(&gp, gen_params, sizeof gp,
                        MB_PARAMS_SIZE_UPTO(mb_generate_params, n_cached), "mb_generate_params");
    if (status) return status;
    /* The counters appended in 0.3 go only to a caller whose params have
     * the field appended with them: its stats struct has them too. */
    size_t n_stats = offsetof(mb_generate_stats, n_drafted);
    if (gen_params &&
        gen_params->struct_size >= MB_PARAMS_SIZE_UPTO(mb_generate_params, speculative))
        n_stats = sizeof *stats;
    mb_generate_stats st;
    memset(&st, 0, sizeof st);
    status = generate(s, sampler, prompt, n_prompt, &gp, &st);
    if (stats) memcpy(stats, &st, n_stats);
    return status;
}
