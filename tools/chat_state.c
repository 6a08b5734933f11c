/* The turn logic of `matchbox chat` (see cmd_chat.c for the why). */
#include "chat_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "matchbox/files.h"

/* Stands in for an answer's text while working out what a turn adds: the
 * template's text after it closes the answer. No template touches it. */
static const char k_placeholder[] = "\x01matchbox-answer\x02";

struct chat_state {
    const chat_opts *o;
    mb_model *model;
    mb_session *s;
    mb_sampler *sampler;
    mb_grammar *grammar;   /* --grammar-file / --json-schema: each answer follows it */
    mb_model *draft_model; /* -md */
    mb_session *draft;
    mb_speculative_params spec; /* off without -md or --lookup */
    const char *tmpl;           /* the family's name, passed to mb_chat_apply */
    mb_chat_message *msgs;      /* strings owned */
    size_t n, cap;
    mb_token *gen; /* the current answer's tokens (n_ctx of room) */
    size_t n_gen, cap_gen;
    mb_token *kv; /* the tokens in the cache (n_ctx of room) */
    size_t n_kv;
    char *text; /* the conversation's text as the cache holds it */
    size_t n_text;
    int kv_valid; /* the cache holds the conversation: the next turn can add to it */
    int turn;
};

/* ---- the conversation ----------------------------------------------------- */

static int push_msg(chat_state *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        mb_chat_message *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return cli_fail("out of memory");
        c->msgs = m;
        c->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy) return cli_fail("out of memory");
    c->msgs[c->n].role = role; /* always one of the static role names */
    c->msgs[c->n++].content = copy;
    return 0;
}

static void remove_msgs(chat_state *c, size_t at, size_t count) {
    for (size_t i = at; i < at + count; i++)
        free((char *)c->msgs[i].content);
    memmove(c->msgs + at, c->msgs + at + count, (c->n - at - count) * sizeof *c->msgs);
    c->n -= count;
}

/* The oldest user turn and its answer; 0 when only system messages are left. */
static size_t oldest_turn(const chat_state *c, size_t *at) {
    size_t i = 0;
    while (i < c->n && !strcmp(c->msgs[i].role, "system"))
        i++;
    if (i == c->n) return 0;
    size_t end = i + 1;
    while (end < c->n && strcmp(c->msgs[end].role, "assistant"))
        end++;
    *at = i;
    return (end < c->n ? end + 1 : end) - i;
}

/* ---- rendering and tokenizing ---------------------------------------------- */

static char *render(chat_state *c, const mb_chat_message *msgs, size_t n, int add_gen,
                    size_t *len) {
    size_t need = 0;
    mb_chat_apply(c->model, c->tmpl, msgs, n, add_gen, NULL, 0, &need);
    char *buf = need + 1 > need ? malloc(need + 1) : NULL;
    if (!buf) return cli_fail("out of memory"), NULL;
    if (mb_chat_apply(c->model, c->tmpl, msgs, n, add_gen, buf, need + 1, len) != MB_OK) {
        free(buf);
        return cli_fail(NULL), NULL;
    }
    return buf;
}

static mb_token *tokenize(chat_state *c, const char *text, size_t len, int add_special, size_t *n) {
    *n = 0;
    if (mb_tokenize(c->model, text, len, add_special, 1, NULL, 0, n) != MB_OK && *n == 0)
        return cli_fail(NULL), NULL;
    mb_token *ids = malloc((*n + 1) * sizeof *ids);
    if (!ids) return cli_fail("out of memory"), NULL;
    if (mb_tokenize(c->model, text, len, add_special, 1, ids, *n, n) != MB_OK) {
        free(ids);
        return cli_fail(NULL), NULL;
    }
    return ids;
}

/* The text a new user message adds to a conversation that ends with an
 * answer: the template's close of that answer, the user's turn and the
 * opening of the next answer. NULL (no error) when the template does not
 * render the conversation as an extension of itself; Mistral v3, for one,
 * moves the system prompt to the last user message, so the caller retries
 * with SKIP_SYSTEM, keeping the system prompt where it was first read. */
static char *turn_text(chat_state *c, const char *user, int skip_system, size_t *len) {
    mb_chat_message *m = malloc((c->n + 1) * sizeof *m);
    if (!m) return cli_fail("out of memory"), NULL;
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!skip_system || strcmp(c->msgs[i].role, "system")) m[k++] = c->msgs[i];
    m[k - 1].content = k_placeholder; /* the last message is the answer */
    m[k] = (mb_chat_message){"user", user};
    size_t la = 0, lb = 0;
    char *a = render(c, m, k, 0, &la), *b = a ? render(c, m, k + 1, 1, &lb) : NULL, *out = NULL;
    const char *hole = a ? strstr(a, k_placeholder) : NULL;
    if (b && hole && lb >= la && memcmp(a, b, la) == 0) {
        size_t close_at = (size_t)(hole - a) + sizeof k_placeholder - 1;
        *len = (la - close_at) + (lb - la);
        if ((out = malloc(*len + 1)) != NULL) {
            memcpy(out, a + close_at, la - close_at);
            memcpy(out + la - close_at, b + la, lb - la);
            out[*len] = '\0';
        }
    }
    free(a);
    free(b);
    free(m);
    return out;
}

/* The whole conversation plus USER, ready to answer. */
static char *whole_text(chat_state *c, const char *user, size_t *len) {
    if (push_msg(c, "user", user)) return NULL;
    char *t = render(c, c->msgs, c->n, 1, len);
    remove_msgs(c, c->n - 1, 1);
    return t;
}

/* ---- generation ---------------------------------------------------------- */

static int on_text(const char *text, size_t len, void *user) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return chat_interrupted();
}

static int on_token(mb_token id, const float *logits, int n_vocab, void *user) {
    (void)logits, (void)n_vocab;
    chat_state *c = user;
    if (c->n_gen < c->cap_gen) c->gen[c->n_gen++] = id;
    return chat_interrupted();
}

/* The answer's text: the pieces of its tokens, as they are in the cache. */
static char *answer_text(chat_state *c, size_t n_gen) {
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    for (size_t i = 0; s && i < n_gen; i++) {
        char piece[256];
        size_t n = 0;
        if (mb_token_to_piece(c->model, c->gen[i], 0, piece, sizeof piece, &n) != MB_OK) n = 0;
        if (len + n + 1 > cap) {
            char *t = realloc(s, cap = (len + n + 1) * 2);
            if (!t) free(s);
            s = t;
        }
        if (s) memcpy(s + len, piece, n), len += n;
    }
    if (!s) return cli_fail("out of memory"), NULL;
    s[len] = '\0';
    return s;
}

/* Tokens kept free for the answer when deciding whether a turn fits. */
static int answer_room(const chat_state *c) {
    int n_ctx = mb_session_n_ctx(c->s);
    long n = c->o->n_predict;
    return n > 0 ? (int)(n < n_ctx / 2 ? n : n_ctx / 2) : n_ctx / 4;
}

/* The conversation's text once USER is added: the text in the cache plus
 * what the turn adds, or (first turn, after a full context, or for a
 * template that does not extend itself) the whole conversation rendered. */
static char *next_text(chat_state *c, const char *user, size_t *len) {
    if (c->kv_valid && c->n > 0 && !strcmp(c->msgs[c->n - 1].role, "assistant")) {
        size_t n_add = 0;
        char *add = turn_text(c, user, 0, &n_add);
        if (!add) add = turn_text(c, user, 1, &n_add);
        if (add) {
            char *t = malloc(c->n_text + n_add + 1);
            if (t) {
                memcpy(t, c->text, c->n_text);
                memcpy(t + c->n_text, add, n_add + 1);
                *len = c->n_text + n_add;
            }
            free(add);
            return t ? t : (cli_fail("out of memory"), NULL);
        }
        fputs("[the template does not extend the conversation turn by turn; reading it "
              "whole]\n",
              stderr);
    }
    return whole_text(c, user, len);
}

/* The tokens of TEXT, tokenized whole (so that a turn's first characters
 * tokenize as they do in context, SentencePiece's leading space included);
 * *keep gets how many of them the cache already holds. */
static mb_token *next_tokens(chat_state *c, const char *text, size_t len, size_t *n_ids,
                             size_t *keep) {
    mb_token *ids = tokenize(c, text, len, mb_chat_add_special(c->model, text, len), n_ids);
    if (!ids) return NULL;
    size_t p = 0;
    while (p < c->n_kv && p < *n_ids && c->kv[p] == ids[p])
        p++;
    /* At least one token is fed, for the logits of the next one. */
    *keep = p < *n_ids ? p : (*n_ids > 0 ? *n_ids - 1 : 0);
    return ids;
}

/* The default context policy: drop the oldest turns (the system prompt
 * stays) until the conversation, the new message and room for an answer
 * fit. Returns the text, or NULL after reporting that even the new message
 * alone does not fit. */
static char *drop_oldest(chat_state *c, const char *user, size_t *len) {
    int n_ctx = mb_session_n_ctx(c->s), dropped = 0;
    for (;;) {
        size_t n_ids = 0, keep = 0, at = 0, count;
        char *text = whole_text(c, user, len);
        mb_token *ids = text ? next_tokens(c, text, *len, &n_ids, &keep) : NULL;
        if (!ids) return free(text), NULL;
        free(ids);
        count = (int)n_ids + answer_room(c) <= n_ctx ? 0 : oldest_turn(c, &at);
        if (count == 0 && (int)n_ids < n_ctx) {
            if (dropped)
                fprintf(stderr,
                        "[context policy 'drop': the oldest %d message(s) were dropped to fit "
                        "-c %d]\n",
                        dropped, n_ctx);
            return text;
        }
        free(text);
        if (count == 0) {
            fprintf(stderr,
                    "error: this message needs %zu tokens with the system prompt, and the "
                    "context holds %d (-c %d); shorten it or use a larger -c\n",
                    n_ids, n_ctx, n_ctx);
            return NULL;
        }
        remove_msgs(c, at, count);
        dropped += (int)count;
    }
}

/* Feed IDS from KEEP on (the cache holds the ones before) and stream the
 * answer; the conversation gets the user message and the answer, and the
 * cache's text and tokens are brought up to date. */
static int answer(chat_state *c, const char *user, char *text, size_t len, const mb_token *ids,
                  size_t n_ids, size_t keep) {
    int n_ctx = mb_session_n_ctx(c->s), reread = (int)c->n_kv - (int)keep;
    if (mb_session_rewind(c->s, (int)keep) != MB_OK) return free(text), cli_fail(NULL);
    c->kv_valid = 0;
    c->n_kv = keep;
    free(c->text);
    c->text = text;
    c->n_text = len;
    if (push_msg(c, "user", user)) return 1;
    c->n_gen = 0;
    mb_generate_params gp = mb_generate_default_params();
    gp.n_predict = (int)c->o->n_predict;
    gp.on_text = on_text;
    gp.on_token = on_token;
    gp.user = c;
    gp.speculative = &c->spec;
    mb_generate_stats st;
    if (c->o->verbose_prompt) {
        fprintf(stderr, "prompt tokens:");
        for (size_t i = 0; i < n_ids; i++)
            fprintf(stderr, " %d", ids[i]);
        fprintf(stderr, "\n");
    }
    if (c->grammar && mb_sampler_set_grammar(c->sampler, c->model, c->grammar) != MB_OK)
        return cli_fail(NULL);
    if (mb_generate(c->s, c->sampler, ids + keep, n_ids - keep, &gp, &st) != MB_OK)
        return cli_fail(NULL);
    fputc('\n', stdout);
    fflush(stdout);
    size_t n_gen = (size_t)st.n_generated <= c->n_gen ? (size_t)st.n_generated : c->n_gen;
    /* The last answer token is in the cache unless generation stopped right
     * after sampling it (token limit, Ctrl-C, full context): feed it, so the
     * cache holds the whole answer and the next turn can follow it. */
    int expected = (int)(n_ids + n_gen);
    if (n_gen > 0 && mb_session_n_past(c->s) == expected - 1 && expected <= n_ctx &&
        mb_session_eval(c->s, &c->gen[n_gen - 1], 1) != MB_OK)
        return cli_fail(NULL);
    char *reply = answer_text(c, n_gen);
    if (!reply || push_msg(c, "assistant", reply)) return free(reply), 1;
    char *t = realloc(c->text, c->n_text + strlen(reply) + 1);
    if (!t) return free(reply), cli_fail("out of memory");
    memcpy(t + c->n_text, reply, strlen(reply) + 1);
    c->text = t;
    c->n_text += strlen(reply);
    free(reply);
    memcpy(c->kv, ids, n_ids * sizeof *ids);
    memcpy(c->kv + n_ids, c->gen, n_gen * sizeof *c->gen);
    c->n_kv = (size_t)mb_session_n_past(c->s); /* the answer's last token may not be in */
    c->kv_valid = mb_session_n_past(c->s) == expected;
    if (chat_interrupted()) fputs("[interrupted]\n", stderr);
    if (st.stop_reason == MB_STOP_CONTEXT_FULL || !c->kv_valid)
        fprintf(stderr, "[the context (-c %d) is full: the answer was cut%s]\n", n_ctx,
                c->o->policy_error ? "; /clear to start over" : "");
    if (c->o->c.verbose)
        fprintf(stderr,
                "[turn %d: fed %zu tokens at position %zu (re-read %d), answered %zu tokens, "
                "context %d/%d, prefill %.1f tok/s, decode %.1f tok/s]\n",
                c->turn, n_ids - keep, keep, reread > 0 ? reread : 0, n_gen,
                mb_session_n_past(c->s), n_ctx, st.n_prompt / (st.prefill_seconds + 1e-12),
                st.n_generated > 1 ? st.n_generated / (st.decode_seconds + 1e-12) : 0.0);
    if (c->o->c.verbose) cli_print_speculative(stderr, &st);
    if (c->o->c.verbose) cli_print_stream(stderr, c->model);
    return 0;
}

int chat_turn(chat_state *c, const char *user) {
    size_t len = 0, n_ids = 0, keep = 0;
    int n_ctx = mb_session_n_ctx(c->s);
    c->turn++;
    char *text = next_text(c, user, &len);
    mb_token *ids = text ? next_tokens(c, text, len, &n_ids, &keep) : NULL;
    if (!ids) return free(text), 1;
    if (n_ids + (size_t)(c->o->policy_error ? 1 : answer_room(c)) > (size_t)n_ctx) {
        free(ids);
        free(text);
        if (c->o->policy_error) {
            fprintf(stderr,
                    "error: the conversation is full: with this message it needs %zu tokens "
                    "and the context holds %d (-c %d, --context-policy error); /clear to start "
                    "over, or use a larger -c\n",
                    n_ids, n_ctx, n_ctx);
            c->turn--;
            return 0;
        }
        if (!(text = drop_oldest(c, user, &len))) return c->turn--, 0;
        if (!(ids = next_tokens(c, text, len, &n_ids, &keep))) return free(text), 1;
    }
    int rc = answer(c, user, text, len, ids, n_ids, keep);
    free(ids);
    return rc;
}

int chat_clear(chat_state *c) {
    size_t keep = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->msgs[i].role, "system"))
            c->msgs[keep++] = c->msgs[i];
        else
            free((char *)c->msgs[i].content);
    c->n = keep;
    c->kv_valid = 0;
    c->n_kv = 0;
    c->n_text = 0;
    mb_sampler_free(c->sampler);
    c->sampler = NULL;
    if (mb_session_rewind(c->s, 0) != MB_OK ||
        mb_sampler_new(&c->o->c.sampling, mb_model_n_vocab(c->model), &c->sampler) != MB_OK)
        return cli_fail(NULL);
    return 0;
}

/* ---- saving -------------------------------------------------------------- */

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int chat_save(chat_state *c, const char *path) {
    if (!cli_check_output(path)) return 1;
    char *tmp = NULL;
    int fd = mb_outfile_create(path, &tmp);
    if (fd < 0) return cli_fail(NULL);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        mb_outfile_discard(tmp);
        return cli_fail("/save %s: cannot write", path);
    }
    fputs("{\n  \"template\": ", f);
    json_string(f, c->tmpl);
    fputs(",\n  \"messages\": [", f);
    for (size_t i = 0; i < c->n; i++) {
        fputs(i ? ",\n    {\"role\": " : "\n    {\"role\": ", f);
        json_string(f, c->msgs[i].role);
        fputs(", \"content\": ", f);
        json_string(f, c->msgs[i].content);
        fputc('}', f);
    }
    fputs("\n  ]\n}\n", f);
    int bad = ferror(f) | (fflush(f) != 0) | (fsync(fileno(f)) != 0);
    bad |= fclose(f) != 0;
    if (bad) {
        mb_outfile_discard(tmp);
        return cli_fail("/save %s: writing failed", path);
    }
    return mb_outfile_commit(tmp, path) == MB_OK ? 0 : cli_fail(NULL);
}

/* ---- life cycle ------------------------------------------------------------ */

int chat_open(const chat_opts *o, mb_model *model, chat_state **out) {
    chat_state *c = calloc(1, sizeof *c);
    *out = c;
    if (!c) return cli_fail("out of memory");
    c->o = o;
    c->model = model;
    int fallback = 0;
    if (mb_chat_template_name(model, o->c.chat_template, &c->tmpl, &fallback) != MB_OK)
        return cli_fail(NULL);
    if (fallback)
        fprintf(stderr,
                "note: the model has no chat template (tokenizer.chat_template); using ChatML. "
                "Choose another with --chat-template NAME (%s).\n",
                mb_chat_template_names());
    else if (o->c.verbose)
        fprintf(stderr, "chat template: %s\n", c->tmpl);
    mb_session_params ssp = o->c.sp;
    ssp.verbose = o->c.verbose;
    if (mb_session_new(model, &ssp, &c->s) != MB_OK ||
        mb_sampler_new(&o->c.sampling, mb_model_n_vocab(model), &c->sampler) != MB_OK)
        return cli_fail(NULL);
    if (!cli_opts_speculative(&o->c, &c->draft_model, &c->draft, &c->spec)) return 1;
    if (!cli_opts_grammar(&o->c, &c->grammar)) return 1;
    c->cap_gen = (size_t)mb_session_n_ctx(c->s) + 1;
    c->gen = malloc(c->cap_gen * sizeof *c->gen);
    c->kv = malloc(c->cap_gen * sizeof *c->kv);
    if (!c->gen || !c->kv) return cli_fail("out of memory");
    if (o->system && push_msg(c, "system", o->system)) return 1;
    return 0;
}

void chat_close(chat_state *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        free((char *)c->msgs[i].content);
    free(c->msgs);
    free(c->gen);
    free(c->kv);
    free(c->text);
    mb_sampler_free(c->sampler);
    mb_grammar_free(c->grammar);
    mb_session_free(c->s);
    mb_session_free(c->draft);
    mb_model_free(c->draft_model);
    free(c);
}
