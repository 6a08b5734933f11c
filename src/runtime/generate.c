/* The generation loop: prefill, then sample / stream / feed until an
 * end-of-generation token, a stop string, the token limit or a full context.
 *
 * Text goes out through a holdback buffer: bytes are released only when they
 * end on a whole UTF-8 character and cannot be the start of a stop string, so
 * the caller never sees half a character or part of a stop string. */
#include <string.h>

#include "core/error.h"
#include "core/timer.h"
#include "matchbox.h"
#include "runtime/session.h"
#include "tokenizer/utf8_stream.h"

enum { PENDING_CAP = 4096, PIECE_CAP = 256 };

typedef struct {
    mb_utf8_stream utf8; /* holds back a character split across tokens */
    char buf[PENDING_CAP];
    size_t len;
    const char *const *stop;
    mb_text_cb on_text;
    void *user;
    int cancelled;
} text_out;

/* Bytes at the end of the pending text that a stop string could begin with. */
static size_t stop_holdback(const text_out *o) {
    size_t hold = 0;
    for (const char *const *st = o->stop; st && *st; st++) {
        size_t sl = strlen(*st);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
            if (k <= o->len && memcmp(o->buf + o->len - k, *st, k) == 0) {
                hold = k;
                break;
            }
    }
    return hold;
}

static void emit(text_out *o, size_t n) {
    if (n == 0) return;
    if (o->on_text && !o->cancelled && o->on_text(o->buf, n, o->user)) o->cancelled = 1;
    memmove(o->buf, o->buf + n, o->len - n);
    o->len -= n;
}

/* Append whole characters; returns 1 if a stop string now appears (the text
 * before it has been emitted). */
static int text_append(text_out *o, const char *text, size_t n) {
    if (o->len + n > PENDING_CAP) emit(o, o->len); /* pathological: flush */
    memcpy(o->buf + o->len, text, n);
    o->len += n;
    for (const char *const *st = o->stop; st && *st; st++) {
        size_t sl = strlen(*st);
        if (sl == 0 || sl > o->len) continue;
        for (size_t at = 0; at + sl <= o->len; at++)
            if (memcmp(o->buf + at, *st, sl) == 0) {
                emit(o, at);
                o->len = 0;
                return 1;
            }
    }
    emit(o, o->len - stop_holdback(o));
    return 0;
}

static int text_push(text_out *o, const char *piece, size_t n) {
    char whole[PIECE_CAP + 4];
    size_t n_whole = 0;
    if (n > PIECE_CAP) n = PIECE_CAP;
    mb_utf8_stream_push(&o->utf8, piece, n, whole, sizeof whole, &n_whole);
    return text_append(o, whole, n_whole);
}

/* End of generation: release an unfinished character as is, then the rest. */
static void text_finish(text_out *o, int stopped) {
    char tail[4];
    size_t n = mb_utf8_stream_flush(&o->utf8, tail);
    if (!stopped && n > 0) text_append(o, tail, n);
    emit(o, o->len);
}

mb_status mb_generate(mb_session *s, mb_sampler *sampler, const mb_token *prompt, size_t n_prompt,
                      const mb_generate_params *params, mb_generate_stats *stats) {
    mb_generate_stats local = {0};
    mb_generate_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    const mb_model *m = s->model;
    int n_ctx = mb_session_n_ctx(s), n_vocab = mb_model_n_vocab(m);
    if (n_prompt == 0) return mb_errorf(MB_ERR_INVALID_ARG, "the prompt is empty");
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
    for (size_t i = 0; i < n_prompt; i++)
        mb_sampler_accept(sampler, prompt[i]);
    double t0 = mb_now();
    mb_status status = mb_session_eval(s, prompt + cached, n_prompt - cached);
    if (status) return status;
    st->n_prompt = (int)n_prompt;
    st->n_cached = (int)cached;
    st->prefill_seconds = mb_now() - t0;
    text_out out = {.stop = params->stop, .on_text = params->on_text, .user = params->user};
    mb_utf8_stream_init(&out.utf8);
    double t1 = mb_now();
    while (params->n_predict < 0 || st->n_generated < params->n_predict) {
        const float *logits = mb_session_logits(s);
        mb_token id = mb_sampler_sample(sampler, logits);
        if (params->on_token && params->on_token(id, logits, n_vocab, params->user)) {
            st->stopped_by = 3;
            break;
        }
        if (mb_token_is_eog(m, id)) {
            st->stopped_by = 1;
            break;
        }
        mb_sampler_accept(sampler, id);
        st->n_generated++;
        char piece[PIECE_CAP];
        size_t n_piece = 0;
        if (mb_token_to_piece(m, id, 0, piece, sizeof piece, &n_piece) != MB_OK) n_piece = 0;
        if (text_push(&out, piece, n_piece)) {
            st->stopped_by = 2;
            break;
        }
        if (out.cancelled) {
            st->stopped_by = 3;
            break;
        }
        if (params->n_predict >= 0 && st->n_generated >= params->n_predict) break;
        if (s->n_past >= n_ctx) {
            st->stopped_by = 4;
            break;
        }
        if ((status = mb_session_eval(s, &id, 1))) return status;
    }
    text_finish(&out, st->stopped_by == 2);
    st->decode_seconds = mb_now() - t1;
    return MB_OK;
}
