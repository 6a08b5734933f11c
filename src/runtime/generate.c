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

enum { PENDING_CAP = 4096 };

typedef struct {
    char buf[PENDING_CAP];
    size_t len;
    const char *const *stop;
    mb_text_cb on_text;
    void *user;
    int cancelled;
} text_out;

/* Length of the longest prefix of S that does not end inside a UTF-8
 * sequence that could still be completed. Invalid bytes count as whole. */
static size_t utf8_whole_prefix(const char *s, size_t n) {
    size_t i = n, back = 0;
    while (i > 0 && back < 4) {
        unsigned char c = (unsigned char)s[i - 1];
        if ((c & 0xC0) != 0x80) {
            size_t need = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            return back + 1 < need ? i - 1 : n;
        }
        i--;
        back++;
    }
    return n;
}

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

/* Append a piece; returns 1 if a stop string now appears (the text before it
 * has been emitted). */
static int text_push(text_out *o, const char *piece, size_t n) {
    if (o->len + n > PENDING_CAP) emit(o, o->len); /* pathological: flush */
    memcpy(o->buf + o->len, piece, n);
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
    size_t ready = utf8_whole_prefix(o->buf, o->len);
    size_t hold = stop_holdback(o);
    if (o->len - hold < ready) ready = o->len - hold;
    emit(o, ready);
    return 0;
}

mb_status mb_generate(mb_session *s, mb_sampler *sampler, const mb_token *prompt, size_t n_prompt,
                      const mb_generate_params *params, mb_generate_stats *stats) {
    mb_generate_stats local = {0};
    mb_generate_stats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    const mb_model *m = s->model;
    int n_ctx = mb_session_n_ctx(s), n_vocab = mb_model_n_vocab(m);
    if (n_prompt == 0) return mb_errorf(MB_ERR_INVALID_ARG, "the prompt is empty");
    if (n_prompt > (size_t)(n_ctx - s->n_past))
        return mb_errorf(MB_ERR_CONTEXT_FULL,
                         "the prompt has %zu tokens but the context has room for %d (-c %d, %d "
                         "used); use a larger -c or a shorter prompt",
                         n_prompt, n_ctx - s->n_past, n_ctx, s->n_past);
    for (size_t i = 0; i < n_prompt; i++) mb_sampler_accept(sampler, prompt[i]);
    double t0 = mb_now();
    mb_status status = mb_session_eval(s, prompt, n_prompt);
    if (status) return status;
    st->n_prompt = (int)n_prompt;
    st->prefill_seconds = mb_now() - t0;
    text_out out = {.stop = params->stop, .on_text = params->on_text, .user = params->user};
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
        char piece[256];
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
    emit(&out, out.len);
    st->decode_seconds = mb_now() - t1;
    return MB_OK;
}
