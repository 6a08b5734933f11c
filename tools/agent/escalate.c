/* Escalation (escalate.h). */
#include "agent/escalate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/redact.h"
#include "common/tool_error.h"
#include "common/tool_clock.h"

/* Placeholders ("[ADDRESS_12]") are short: an unclosed '[' this near the
 * end of the streamed text may be the start of one, so it is held back. */
enum { HOLDBACK = 40 };

typedef struct {
    const mb_redactor *r;
    mb_oracle_piece_fn fn;
    void *user;
    char *pending;
    size_t len, cap;
    int stopped, failed;
} restorer;

/* Restore and pass on PENDING[0..n). */
static int emit(restorer *s, size_t n) {
    if (n == 0 || s->stopped) return 0;
    char *out = NULL;
    size_t out_len = 0;
    if (mb_unredact(s->r, s->pending, n, &out, &out_len) != MB_OK) return s->failed = 1;
    if (out_len && !s->fn(s->user, out, out_len)) s->stopped = 1;
    free(out);
    memmove(s->pending, s->pending + n, s->len - n);
    s->len -= n;
    return 0;
}

static bool restore_piece(void *user, const char *piece, size_t len) {
    restorer *s = user;
    if (s->len + len + 1 > s->cap) {
        size_t cap = (s->len + len + 1) * 2;
        char *t = realloc(s->pending, cap);
        if (!t) return false;
        s->pending = t;
        s->cap = cap;
    }
    memcpy(s->pending + s->len, piece, len);
    s->len += len;
    size_t safe = s->len;
    for (size_t k = s->len; k > 0 && s->len - (k - 1) <= HOLDBACK; k--) {
        if (s->pending[k - 1] == ']') break;
        if (s->pending[k - 1] == '[') {
            safe = k - 1;
            break;
        }
    }
    emit(s, safe);
    return !s->stopped && !s->failed;
}

static void audit(const mb_agent_oracle *ao, const char *by, const char *reason,
                  const mb_oracle_msg *sent, int n_sent, int redactions, int pt, int ct,
                  const char *error, double seconds) {
    mb_audit_entry e = {.answered_by = by,
                        .reason = reason,
                        .url = ao->url,
                        .model = ao->model,
                        .sent = sent,
                        .n_sent = n_sent,
                        .redactions = redactions,
                        .prompt_tokens = pt,
                        .completion_tokens = ct,
                        .error = error,
                        .seconds = seconds};
    if (mb_audit_write(ao->audit, &e) != MB_OK) fprintf(stderr, "warning: %s\n", tool_last_error());
}

void mb_agent_audit_local(const mb_agent_oracle *ao, const char *reason, double seconds) {
    if (ao && ao->audit) audit(ao, "guardian", reason, NULL, 0, 0, -1, -1, NULL, seconds);
}

void mb_escalation_free(mb_escalation *e) {
    if (!e) return;
    free(e->content);
    e->content = NULL;
}

mb_status mb_agent_escalate(const mb_agent_oracle *ao, const mb_oracle_msg *msgs, int n_msgs,
                            int max_tokens, float temperature, const char *why,
                            mb_oracle_piece_fn on_piece, void *user, mb_escalation *out,
                            char *reason, size_t cap) {
    memset(out, 0, sizeof *out);
    double t0 = tool_now();
    if (!ao || !ao->oracle) {
        snprintf(reason, cap, "no oracle");
        return tool_errorf(MB_ERR_INVALID_ARG, "no oracle is configured");
    }
    /* Budget: the oracle's tokens are unknown before it answers, so a
     * request is let through when ~3 bytes a token plus its max_tokens fit. */
    long estimate = max_tokens > 0 ? max_tokens : 256;
    for (int i = 0; i < n_msgs; i++)
        estimate += (long)(strlen(msgs[i].content ? msgs[i].content : "") / 3 + 4);
    if (!mb_budget_allows(ao->budget, estimate, time(NULL))) {
        snprintf(reason, cap, "%s; oracle budget exhausted (%ld of %ld tokens used today)", why,
                 mb_budget_used(ao->budget, time(NULL)), mb_budget_limit(ao->budget));
        audit(ao, "guardian", reason, NULL, 0, 0, -1, -1, NULL, tool_now() - t0);
        return tool_errorf(MB_ERR_INVALID_ARG, "the oracle's daily token budget is spent");
    }
    mb_redactor *r = NULL;
    mb_oracle_msg *sent = calloc((size_t)n_msgs, sizeof *sent);
    mb_status st = sent ? mb_redactor_new(&r) : MB_ERR_NO_MEMORY;
    for (int i = 0; st == MB_OK && i < n_msgs; i++) {
        const char *c = msgs[i].content ? msgs[i].content : "";
        char *red = NULL;
        st = mb_redact(r, c, strlen(c), &red, NULL);
        sent[i].role = msgs[i].role;
        sent[i].content = red;
    }
    if (st != MB_OK) {
        snprintf(reason, cap, "%s; redaction failed, nothing sent", why);
        audit(ao, "guardian", reason, NULL, 0, 0, -1, -1, tool_last_error(), tool_now() - t0);
    } else {
        out->redactions = mb_redactor_count(r);
        restorer rs = {.r = r, .fn = on_piece, .user = user};
        mb_oracle_reply reply;
        st = mb_oracle_chat(ao->oracle, sent, n_msgs, max_tokens, temperature,
                            on_piece ? restore_piece : NULL, &rs, &reply);
        if (st == MB_OK && on_piece) emit(&rs, rs.len); /* the held-back tail */
        free(rs.pending);
        if (st == MB_OK)
            st = mb_unredact(r, reply.content, strlen(reply.content), &out->content, NULL);
        if (st == MB_OK) {
            out->prompt_tokens = reply.prompt_tokens;
            out->completion_tokens = reply.completion_tokens;
            memcpy(out->finish_reason, reply.finish_reason, sizeof out->finish_reason);
            long spent = reply.prompt_tokens >= 0 && reply.completion_tokens >= 0
                             ? (long)reply.prompt_tokens + reply.completion_tokens
                             : estimate;
            if (mb_budget_spend(ao->budget, spent, time(NULL)) != MB_OK)
                fprintf(stderr, "warning: %s\n", tool_last_error());
            snprintf(reason, cap, "%s", why);
            audit(ao, "oracle", reason, sent, n_msgs, out->redactions, reply.prompt_tokens,
                  reply.completion_tokens, NULL, tool_now() - t0);
        } else {
            char err[300];
            snprintf(err, sizeof err, "%s", tool_last_error());
            snprintf(reason, cap, "%s; oracle %s, answered locally", why,
                     st == MB_ERR_IO ? "unreachable" : "refused the request");
            /* The text may have reached the oracle before it failed. */
            audit(ao, "guardian", reason, sent, n_msgs, out->redactions, -1, -1, err,
                  tool_now() - t0);
            tool_errorf(st, "%s", err);
        }
        mb_oracle_reply_free(&reply);
    }
    for (int i = 0; sent && i < n_msgs; i++)
        free((char *)sent[i].content);
    free(sent);
    mb_redactor_free(r);
    if (st != MB_OK) mb_escalation_free(out);
    return st;
}
