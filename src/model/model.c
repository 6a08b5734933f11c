/* The public model API: load, describe, tokenize. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "model/lora.h"
#include "model/model.h"
#include "model/plan.h"
#include "model/stream.h"

mb_model_params mb_model_default_params(void) {
    return (mb_model_params){
        .struct_size = sizeof(mb_model_params), .use_mmap = -1, .use_mlock = 0, .verbose = 0};
}

/* The type most of the weight bytes are stored in, for the description. */
static const char *dominant_type(const mb_gguf *g) {
    uint64_t bytes[MB_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].type < MB_TYPE_COUNT) bytes[g->tensors[i].type] += g->tensors[i].nbytes;
    uint32_t best = 0;
    for (uint32_t t = 1; t < MB_TYPE_COUNT; t++)
        if (bytes[t] > bytes[best]) best = t;
    return mb_type_name(best);
}

/* A budget: plan what stays resident and read it into memory, before the
 * weights are bound (model/plan.h); the rest is streamed once bound. */
static mb_status plan_weights(mb_model *m, const char *path, const mb_model_params *p,
                              mb_weight_plan *plan) {
    mb_status st = mb_plan_make(m, p->mem_budget, plan);
    if (st) return st;
    m->ram_weight_bytes = mb_plan_ram_bytes(plan);
    if (p->verbose) {
        char desc[512];
        mb_plan_describe(plan, desc, sizeof desc);
        mb_log(MB_LOG_INFO, "%s\n", desc);
    }
    return mb_plan_streams(plan) ? mb_plan_load_resident(m, plan, path) : MB_OK;
}

static mb_status load(mb_model *m, const char *path, const mb_model_params *p) {
    if (p->mem_budget && (p->use_mmap == 0 || p->use_mlock))
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "a memory budget maps the file: --no-mmap and --mlock would keep every "
                         "weight in RAM");
    /* A budget maps the file: only the planned part is ever touched. */
    mb_status st = mb_gguf_open(path, p->mem_budget ? 1 : p->use_mmap, p->use_mlock, &m->gguf);
    if (st) return st;
    m->is_mmap = m->gguf->map.is_mmap == 1;
    if (p->vocab_only) {
        /* Tokenizer work needs no weights: vocab-only files load too. */
        if ((st = mb_vocab_load_pre(m->gguf, p->tokenizer_pre, &m->vocab))) return st;
        m->hp.n_vocab = mb_vocab_n_tokens(m->vocab);
        m->vocab_only = 1;
        snprintf(m->desc, sizeof m->desc, "vocabulary only, %d tokens (%s)", m->hp.n_vocab,
                 mb_vocab_model_name(m->vocab));
        return MB_OK;
    }
    if ((st = mb_hparams_read(m->gguf, &m->hp))) return st;
    if (m->gguf->n_tensors == 0)
        return mb_errorf(MB_ERR_FORMAT, "the file has no tensors (a vocab-only file?)");
    if ((st = mb_vocab_load_pre(m->gguf, p->tokenizer_pre, &m->vocab))) return st;
    m->hp.n_vocab = mb_vocab_n_tokens(m->vocab);
    /* Generation holds a piece buffer of this size (no allocation per token). */
    for (mb_token id = 0; id < m->hp.n_vocab; id++) {
        size_t n = 0;
        mb_vocab_token_to_piece(m->vocab, id, 0, NULL, 0, &n);
        if (n > m->max_piece) m->max_piece = n;
    }
    mb_error_clear();
    const mb_gguf_tensor *emb = mb_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (emb && emb->n_dims >= 2 && emb->ne[1] != (uint64_t)m->hp.n_vocab)
        return mb_errorf(MB_ERR_FORMAT,
                         "token_embd.weight has %llu rows but the vocabulary has %d "
                         "tokens",
                         (unsigned long long)emb->ne[1], m->hp.n_vocab);
    mb_weight_plan plan = {0};
    if (p->mem_budget && (st = plan_weights(m, path, p, &plan))) {
        mb_plan_free(&plan);
        return st;
    }
    st = mb_model_bind_weights(m);
    if (!st && mb_plan_streams(&plan)) st = mb_stream_new(m, path, &plan, &m->stream);
    mb_plan_free(&plan);
    if (st) return st;
    if (p->repack) mb_model_repack(m, p->verbose);
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++)
        m->weight_bytes += m->gguf->tensors[i].nbytes;
    if (!m->stream) m->ram_weight_bytes = m->weight_bytes;
    const mb_hparams *hp = &m->hp;
    char extra[96] = "";
    size_t used = 0;
    if (hp->n_expert > 0)
        used += (size_t)snprintf(extra, sizeof extra, ", %d experts (%d used)", hp->n_expert,
                                 hp->n_expert_used);
    if (hp->sliding_window > 0)
        snprintf(extra + used, sizeof extra - used, ", sliding window %d", hp->sliding_window);
    snprintf(m->desc, sizeof m->desc, "%s, %d layers, dim %d, %d/%d heads, ffn %d%s, vocab %d, %s",
             hp->arch, hp->n_layer, hp->n_embd, hp->n_head, hp->n_head_kv, hp->n_ff, extra,
             hp->n_vocab, dominant_type(m->gguf));
    return MB_OK;
}

mb_status mb_model_load(const char *path, const mb_model_params *params, mb_model **out) {
    *out = NULL;
    mb_model_params p = mb_model_default_params();
    mb_status st =
        mb_params_merge(&p, params, sizeof p, MB_PARAMS_SIZE_UPTO(mb_model_params, tokenizer_pre),
                        "mb_model_params");
    if (st) return st;
    mb_model *m = calloc(1, sizeof *m);
    if (!m) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    st = load(m, path, &p);
    if (st) {
        /* The GGUF reader already names the file; other layers do not. */
        if (strncmp(mb_last_error(), path, strlen(path)) != 0) mb_error_prefix(st, "%s", path);
        mb_model_free(m);
        return st;
    }
    if (p.verbose)
        mb_log(MB_LOG_INFO, "loaded %s: %s, %.1f MiB of weights (%s)\n", path, m->desc,
               (double)m->weight_bytes / (1 << 20), m->is_mmap ? "mmap" : "in memory");
    *out = m;
    return MB_OK;
}

void *mb_model_grammar_vocab(const mb_model *m) {
    return atomic_load_explicit(&((mb_model *)m)->grammar_vocab, memory_order_acquire);
}

/* The model is shared read-only between threads; this slot is its one
 * field written after loading (a cache), hence the cast and the atomic. */
void *mb_model_publish_grammar_vocab(const mb_model *m, void *obj) {
    void *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&((mb_model *)m)->grammar_vocab, &expected, obj,
                                                memory_order_acq_rel, memory_order_acquire))
        return obj;
    return expected;
}

void mb_model_free(mb_model *m) {
    if (!m) return;
    void *gv = atomic_load(&m->grammar_vocab);
    if (gv) {
        mb_model_shared_free_fn destroy;
        memcpy(&destroy, gv, sizeof destroy);
        destroy(gv);
    }
    mb_stream_free(m->stream);
    mb_vocab_free(m->vocab);
    mb_lora_free(m->lora);
    mb_gguf_close(m->gguf);
    if (m->resident_block) munmap(m->resident_block, m->resident_size);
    free(m->layers);
    free(m->expert_mats);
    free(m->owned_vectors);
    free(m->chat_template);
    free(m);
}

int mb_model_n_vocab(const mb_model *m) {
    return m->hp.n_vocab;
}
int mb_model_n_ctx_train(const mb_model *m) {
    return m->hp.n_ctx_train;
}
int mb_model_n_embd(const mb_model *m) {
    return m->hp.n_embd;
}
int mb_model_uses_mmap(const mb_model *m) {
    return m->is_mmap;
}
uint64_t mb_model_weight_bytes(const mb_model *m) {
    return m->weight_bytes;
}
const char *mb_model_desc(const mb_model *m) {
    return m->desc;
}

void mb_model_stream_stats(const mb_model *m, mb_stream_stats *out) {
    memset(out, 0, sizeof *out);
    if (m->stream) mb_stream_stats_get(m->stream, out);
}

mb_status mb_tokenize(const mb_model *m, const char *text, size_t len, int add_special,
                      int parse_special, mb_token *ids, size_t cap, size_t *n_out) {
    return mb_vocab_tokenize(m->vocab, text, len, add_special, parse_special, ids, cap, n_out);
}

mb_status mb_token_to_piece(const mb_model *m, mb_token id, int render_special, char *buf,
                            size_t cap, size_t *n_out) {
    return mb_vocab_token_to_piece(m->vocab, id, render_special, buf, cap, n_out);
}

mb_token mb_token_bos(const mb_model *m) {
    return mb_vocab_bos(m->vocab);
}
mb_token mb_token_eos(const mb_model *m) {
    return mb_vocab_eos(m->vocab);
}
int mb_token_is_eog(const mb_model *m, mb_token id) {
    return mb_vocab_is_eog(m->vocab, id);
}
