/* `matchbox serve --oracle`: each completion goes through the router
 * (docs/AGENT.md). A private request, or any when the guardian is sure of
 * its draft, is answered by the local model; a hard one, one longer than the
 * context, or one whose draft is unsure goes to the oracle, redacted. The
 * answer carries "matchbox": {answered_by, reason, redactions} and the
 * header X-Matchbox-Answered-By.
 *
 * The job is the channel in every case: the engine writes the guardian's
 * tokens into it, and for a streamed oracle answer a relay thread writes the
 * oracle's pieces into it, so the SSE code (stream.c) sends either the same
 * way. A stream starts only once it is settled who answers, so its header
 * is right. */
#include <cjson/cJSON.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/redact.h"
#include "common/tool_clock.h"
#include "common/tool_error.h"
#include "server/http_internal.h"

/* ---- the request's marks ------------------------------------------------- */

static int header_true(struct MHD_Connection *c, const char *name) {
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"));
}

static int body_true(const cJSON *obj, const char *name) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* "private": true and "matchbox": {"hard": true} (or "private" there too). */
static void marks(const mb_http_req *r, struct MHD_Connection *c, int *is_private, int *hard) {
    cJSON *root = cJSON_ParseWithLength(r->body, r->len);
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(root, "matchbox");
    *is_private = body_true(root, "private") || body_true(ext, "private") ||
                  header_true(c, "X-Matchbox-Private");
    *hard = body_true(ext, "hard") || header_true(c, "X-Matchbox-Hard");
    cJSON_Delete(root);
}

/* The request as oracle messages (pointers into J's request). */
static mb_oracle_msg *oracle_msgs(const mb_job *j, int *n) {
    const mb_server_request *q = &j->req;
    *n = q->is_chat ? (int)q->n_messages : 1;
    mb_oracle_msg *m = calloc((size_t)*n, sizeof *m);
    if (!m) return NULL;
    if (!q->is_chat) {
        m[0] = (mb_oracle_msg){"user", q->prompt};
        return m;
    }
    for (int i = 0; i < *n; i++)
        m[i] = (mb_oracle_msg){q->messages[i].role, q->messages[i].content};
    return m;
}

static int has_pii(const mb_oracle_msg *m, int n) {
    for (int i = 0; i < n; i++)
        if (m[i].content && mb_text_has_pii(m[i].content, strlen(m[i].content))) return 1;
    return 0;
}

/* ---- answering ----------------------------------------------------------- */

static enum MHD_Result send_json(struct MHD_Connection *c, mb_http_req *r, int status, char *body,
                                 const char *answered_by) {
    return mb_http_send(c, r, status, body, "application/json", status == 503, answered_by);
}

static enum MHD_Result send_err(struct MHD_Connection *c, mb_http_req *r, int status,
                                const char *code, const char *msg) {
    return send_json(
        c, r, status,
        mb_resp_error(msg, status >= 500 ? "server_error" : "invalid_request_error", NULL, code),
        NULL);
}

/* Queue J on the engine: mb_job_submit's answer (0 when queued). */
static int submit(mb_server *s, mb_job *j) {
    return atomic_load(&s->draining) ? 1 : mb_job_submit(s->engine, s->model, &s->metrics, j);
}

/* The finished job as a whole answer, or its stream. */
static enum MHD_Result answer(mb_server *s, struct MHD_Connection *c, mb_http_req *r, mb_job *j,
                              const mb_resp_meta *meta) {
    if (j->req.stream) return mb_http_stream(s, c, r, j, meta);
    pthread_mutex_lock(&j->mu);
    mb_http_wait(c, r, j, MB_WAIT_DONE);
    if (j->finish == MB_FINISH_CANCELLED) { /* the client left: nobody to answer */
        pthread_mutex_unlock(&j->mu);
        return MHD_NO;
    }
    const int timeout = j->finish == MB_FINISH_TIMEOUT;
    char *body = j->finish >= MB_FINISH_ERROR ? NULL : mb_resp_completion(meta, j);
    char msg[300];
    snprintf(msg, sizeof msg, "%s%s", timeout ? "" : "generation failed: ", j->error);
    pthread_mutex_unlock(&j->mu);
    if (timeout) return mb_http_send_timeout(c, r, msg);
    if (!body) return send_err(c, r, 500, NULL, msg);
    return send_json(c, r, 200, body, j->answered_by);
}

static void set_route(mb_job *j, const char *by, const char *reason) {
    pthread_mutex_lock(&j->mu);
    j->answered_by = by;
    snprintf(j->route_reason, sizeof j->route_reason, "%s", reason);
    pthread_mutex_unlock(&j->mu);
}

/* ---- the oracle's answer --------------------------------------------------- */

typedef struct {
    mb_server *s;
    mb_job *j;
    mb_oracle_msg *msgs;
    int n_msgs, too_long;
    char why[512];
    /* The guardian's draft, put back if the oracle fails (has_draft). */
    int has_draft, draft_generated, draft_finish;
    char *draft;
    size_t draft_len;
} relay;

static bool relay_piece(void *user, const char *piece, size_t len) {
    relay *x = user;
    mb_job *j = x->j;
    pthread_mutex_lock(&j->mu);
    if (!j->answered_by) { /* the first piece settles it; the headers go now */
        j->answered_by = "oracle";
        snprintf(j->route_reason, sizeof j->route_reason, "%s", x->why);
    }
    if (mb_job_append_locked(j, piece, len)) {
        pthread_mutex_unlock(&j->mu);
        return false;
    }
    j->settled = 1;
    pthread_mutex_unlock(&j->mu);
    return !atomic_load(&j->cancelled);
}

/* Ask the oracle, writing the answer into the job (streamed pieces through
 * relay_piece). On failure, the draft or a fresh local generation answers,
 * flagged; only an input too long for the guardian ends in an error. */
static void run_relay(relay *x, int stream) {
    mb_job *j = x->j;
    const mb_agent_oracle *ao = x->s->p.oracle;
    mb_escalation e;
    char reason[512];
    mb_status st =
        mb_agent_escalate(ao, x->msgs, x->n_msgs, j->max_tokens, (float)j->req.temperature, x->why,
                          stream ? relay_piece : NULL, x, &e, reason, sizeof reason);
    pthread_mutex_lock(&j->mu);
    snprintf(j->route_reason, sizeof j->route_reason, "%s", reason);
    j->redactions = e.redactions;
    if (st == MB_OK) {
        j->answered_by = "oracle";
        if (!stream) { /* the whole answer, placeholders restored */
            free(j->text);
            j->text = e.content;
            j->len = strlen(e.content);
            j->cap = j->len + 1;
            e.content = NULL;
        }
        j->n_lp = 0;
        if (e.prompt_tokens >= 0) j->n_prompt = (size_t)e.prompt_tokens;
        j->n_generated = e.completion_tokens >= 0 ? e.completion_tokens : 0;
        j->n_drafted = j->n_accepted = 0; /* the oracle's tokens: none drafted here */
        j->finish = !strcmp(e.finish_reason, "length") ? MB_FINISH_LENGTH : MB_FINISH_STOP;
        j->done = j->settled = 1;
    } else if (j->len > 0) { /* the stream broke after it began */
        j->answered_by = "oracle";
        j->finish = MB_FINISH_ERROR;
        snprintf(j->error, sizeof j->error, "the oracle's stream broke: %s", tool_last_error());
        j->done = j->settled = 1;
    } else if (x->has_draft) {
        j->answered_by = "guardian";
        free(j->text);
        j->text = x->draft;
        j->len = x->draft_len;
        j->cap = x->draft_len + 1;
        x->draft = NULL;
        j->n_generated = x->draft_generated;
        j->finish = x->draft_finish;
        j->done = j->settled = 1;
    } else if (x->too_long || atomic_load(&j->cancelled)) {
        j->finish = MB_FINISH_ERROR;
        snprintf(j->error, sizeof j->error,
                 "the input is longer than the guardian's context of %d tokens, and %.120s",
                 x->s->n_ctx, reason);
        j->done = j->settled = 1;
    } else { /* marked hard, the oracle failed: the guardian generates now */
        j->answered_by = "guardian";
        j->settled = 1;
        j->draft = 0;
        pthread_mutex_unlock(&j->mu);
        if (submit(x->s, j)) {
            pthread_mutex_lock(&j->mu);
            j->finish = MB_FINISH_ERROR;
            snprintf(j->error, sizeof j->error, "every slot is busy and the oracle failed");
            j->done = 1;
        } else {
            pthread_mutex_lock(&j->mu);
        }
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    mb_escalation_free(&e);
}

static void *relay_main(void *arg) {
    relay *x = arg;
    run_relay(x, 1);
    mb_job_release(x->j);
    atomic_fetch_sub(&x->s->requests, 1);
    free(x->draft);
    free(x->msgs);
    free(x);
    return NULL;
}

static enum MHD_Result escalate(mb_server *s, struct MHD_Connection *c, mb_http_req *r, mb_job *j,
                                const mb_resp_meta *meta, relay *x) {
    if (j->done) { /* keep the draft aside; the job carries the oracle's answer */
        pthread_mutex_lock(&j->mu);
        x->has_draft = 1;
        x->draft = j->text ? j->text : calloc(1, 1);
        x->draft_len = j->len;
        x->draft_generated = j->n_generated;
        x->draft_finish = j->finish;
        j->text = NULL;
        j->len = j->cap = 0;
        j->done = 0;
        j->settled = 0;
        pthread_mutex_unlock(&j->mu);
    }
    if (!j->req.stream) {
        run_relay(x, 0);
        free(x->draft);
        free(x->msgs);
        free(x);
        if (j->answered_by && !strcmp(j->answered_by, "guardian") && !j->done)
            return answer(s, c, r, j, meta); /* generating now */
        if (j->finish == MB_FINISH_ERROR)
            return send_json(
                c, r, 400,
                mb_resp_error(j->error, "invalid_request_error", NULL, "context_length_exceeded"),
                NULL);
        return answer(s, c, r, j, meta);
    }
    pthread_t t;
    atomic_fetch_add(&j->refs, 1);
    /* Counted as a request in flight, so a stopping server waits for it. */
    atomic_fetch_add(&s->requests, 1);
    if (pthread_create(&t, NULL, relay_main, x) != 0) {
        atomic_fetch_sub(&s->requests, 1);
        mb_job_release(j);
        free(x->draft);
        free(x->msgs);
        free(x);
        return send_err(c, r, 500, NULL, "could not start the oracle relay");
    }
    pthread_detach(t);
    pthread_mutex_lock(&j->mu);
    mb_http_wait(c, r, j, MB_WAIT_SETTLED); /* who answers is settled before the headers go */
    int failed = j->finish == MB_FINISH_ERROR && j->len == 0;
    char msg[600];
    snprintf(msg, sizeof msg, "%s", j->error);
    pthread_mutex_unlock(&j->mu);
    if (failed) return send_err(c, r, 400, "context_length_exceeded", msg);
    return mb_http_stream(s, c, r, j, meta);
}

enum MHD_Result mb_http_routed(mb_server *s, struct MHD_Connection *c, mb_http_req *r, mb_job *j,
                               const mb_resp_meta *meta, int too_long) {
    double t0 = tool_now();
    const mb_server_params *p = &s->p;
    relay *x = calloc(1, sizeof *x);
    if (x) x->msgs = oracle_msgs(j, &x->n_msgs);
    if (!x || !x->msgs) {
        free(x);
        return send_err(c, r, 500, NULL, "out of memory");
    }
    x->s = s;
    x->j = j;
    x->too_long = too_long;
    int is_private, hard;
    marks(r, c, &is_private, &hard);
    is_private |= p->private_by_default || (p->private_if_pii && has_pii(x->msgs, x->n_msgs));
    mb_route_input in = {.has_oracle = p->oracle->oracle != NULL,
                         .is_private = is_private,
                         .hard = hard,
                         .n_prompt = too_long && (long)j->n_prompt < s->n_ctx ? s->n_ctx
                                                                              : (long)j->n_prompt,
                         .n_ctx = s->n_ctx};
    mb_route route = mb_route_before(&in, x->why, sizeof x->why);
    if (route == MB_ROUTE_GUARDIAN && too_long) {
        char msg[700];
        snprintf(msg, sizeof msg,
                 "this model's context is %d tokens and the prompt has %zu (with max_tokens %d); "
                 "the request is %s, so the oracle may not answer it",
                 s->n_ctx, j->n_prompt, j->max_tokens, x->why);
        free(x->msgs);
        free(x);
        return send_err(c, r, 400, "context_length_exceeded", msg);
    }
    if (route == MB_ROUTE_ORACLE) return escalate(s, c, r, j, meta, x);
    if (route == MB_ROUTE_DRAFT) {
        /* The guardian scores the job's own tokens as the CLI does (one
         * rendering path, one scorer: score.h); the engine then generates
         * the answer only when it is kept. */
        mb_agent_features f;
        const mb_router_lr *rl = p->router;
        int n_draft = p->agent_n_draft > 0 ? p->agent_n_draft : rl ? rl->n_draft : 32;
        pthread_mutex_lock(&s->scorer_mu);
        mb_status st = mb_agent_score(s->model, s->scorer, j->prompt, j->n_prompt, n_draft,
                                      rl ? rl->low_p : p->thresholds.low_p, &f, NULL, NULL);
        pthread_mutex_unlock(&s->scorer_mu);
        if (st != MB_OK) {
            free(x->msgs);
            free(x);
            return send_err(c, r, 500, NULL, tool_last_error());
        }
        mb_agent_features_json(&f, j->features, sizeof j->features);
        if (mb_router_decide(&f, rl, &p->thresholds, x->why, sizeof x->why))
            return escalate(s, c, r, j, meta, x);
        route = MB_ROUTE_GUARDIAN;
    }
    j->draft = 0;
    mb_confidence_init(&j->conf, p->thresholds.low_p);
    if (route == MB_ROUTE_GUARDIAN) {
        set_route(j, "guardian", x->why);
        free(x->msgs);
        free(x);
        x = NULL;
    }
    const int refused = submit(s, j);
    if (refused) {
        if (x) free(x->msgs), free(x);
        if (refused == 2) return send_err(c, r, 400, "kv_budget_exceeded", mb_last_error());
        return send_err(c, r, 503, "server_busy",
                        "every slot is busy and the queue is full; retry later");
    }
    mb_agent_audit_local(p->oracle, j->route_reason, tool_now() - t0);
    return answer(s, c, r, j, meta);
}
