/* The memory model (mem_plan.h): every part a configuration holds resident
 * at its peak. The peak is a full context after a full prefill chunk: the KV
 * cache's pages are touched as positions fill, the activation rows as a chunk
 * uses them, so a short run stays below it (docs/PERFORMANCE.md compares
 * the plan with measured peak RSS). */
#include "runtime/mem_plan.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/file_map.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/lora.h"
#include "tensor/types.h"

/* Prefill runs in chunks of this many tokens: each weight row is read (and,
 * where the level packs the weight type for its batch kernel, rearranged) once
 * per chunk. 512, the reference's default micro-batch: at 64 the packing
 * cost as much as the products. The activation buffers take about 110 KB
 * per token of chunk for a 1.1B llama (56 MB) and 250 KB for an 8B one. */
enum { PREFILL_BATCH = 512 };

/* Per thread: the stack pages a worker touches, and the pool's scratch for
 * packed weight panels where the level packs a weight type (tiles of about
 * PACK_TILE bytes, pack_scratch). */
enum { THREAD_STACK_BYTES = 64 * 1024, PACK_TILE = 384 * 1024 };

/* Per sampler candidate (logit, probability, id) and repeat count. */
enum { SAMPLER_BYTES_PER_TOKEN = 12 + 4 };

int mb_mem_n_ctx(const mb_hparams *hp, int n_ctx) {
    if (n_ctx > 0) return n_ctx;
    return hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
}

int mb_mem_n_batch(int n_ctx) {
    return n_ctx > 0 && n_ctx < PREFILL_BATCH ? n_ctx : PREFILL_BATCH;
}

uint64_t mb_mem_kv_bytes(const mb_hparams *hp, int n_ctx, int n_batch, int swa_full, int type_k,
                         int type_v) {
    return mb_kv_cache_bytes(hp, n_ctx, n_batch, swa_full, (uint32_t)type_k, (uint32_t)type_v);
}

static uint64_t pow2_at_least(uint64_t n) {
    uint64_t p = 16;
    while (p < n)
        p *= 2;
    return p;
}

/* The tokenizer as tokenizer/vocab.c builds it, and the reader's index of
 * the metadata's string arrays (an mb_str per element). */
static uint64_t vocab_bytes(const mb_gguf *g) {
    uint64_t total = g->n_kv * sizeof(mb_gguf_kv) + g->n_tensors * sizeof(mb_gguf_tensor);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const mb_gguf_value *v = &g->kv[i].value;
        total += strlen(g->kv[i].key) + 1;
        if (v->type != MB_GGUF_ARR || v->arr.type != MB_GGUF_STR) continue;
        const uint64_t n = v->arr.n;
        uint64_t text = 0;
        for (uint64_t j = 0; j < n; j++)
            text += v->arr.strs[j].len;
        total += n * sizeof(mb_str);
        if (!strcmp(g->kv[i].key, "tokenizer.ggml.tokens"))
            /* blob, offsets, lengths, scores, types, strip flags; the
             * open-addressing table of at least twice the tokens. */
            total += text + n * (1 + 8 + 4 + 4 + 1 + 1) + pow2_at_least(2 * n) * 4;
        else if (!strcmp(g->kv[i].key, "tokenizer.ggml.merges"))
            total += pow2_at_least(2 * n) * 16; /* bpe.c's merge table */
    }
    return total;
}

/* Where T's matrix products pack panels: the bytes of one (PANEL) and how
 * many the matrix has (return value; 0 when its type does not pack). */
static uint64_t pack_panels(const mb_gguf_tensor *t, uint64_t *panel) {
    if (t->n_dims < 2 || t->type >= MB_TYPE_COUNT) return 0;
    /* The embeddings are only looked up, and the output projection (or
     * the tied embeddings) multiplies the last row only: neither packs. */
    if (!strcmp(t->name, "token_embd.weight") || !strcmp(t->name, "output.weight")) return 0;
    const mb_dot_traits *dt = &mb_kernels()->dot[t->type];
    const mb_type_traits *tt = mb_type_get(t->type);
    if (!dt->gemm_packed || !dt->pack_rows || !tt) return 0;
    *panel = (uint64_t)dt->pack_block_bytes * (t->ne[0] / tt->block_size);
    return (t->ne[1] + dt->pack_rows - 1) / dt->pack_rows;
}

static void add_pack_shape(mb_mem_model *m, uint64_t panel, uint64_t panels) {
    for (int i = 0; i < m->n_pack; i++)
        if (m->pack[i].panel_bytes == panel && m->pack[i].panels == panels) return;
    int at = m->n_pack;
    if (at == MB_MEM_PACK_SHAPES) { /* keep the larger matrices */
        at = 0;
        for (int i = 1; i < m->n_pack; i++)
            if (m->pack[i].panel_bytes * m->pack[i].panels <
                m->pack[at].panel_bytes * m->pack[at].panels)
                at = i;
        if (m->pack[at].panel_bytes * m->pack[at].panels >= panel * panels) return;
    } else {
        m->n_pack++;
    }
    m->pack[at].panel_bytes = panel;
    m->pack[at].panels = panels;
}

/* The largest panel scratch one of N_THREADS threads writes: a tile of
 * whole panels of about PACK_TILE bytes (at least one panel, at most the
 * thread's share of the matrix: kernels/matmul.c). The pool grows its
 * buffer by half again, but only the tile's bytes are ever written; the
 * pages past them never become resident. (Counting the whole matrix and
 * that half put a tiny F16 model's plan 8-10% above its peak once F16
 * packed panels of 48 rows.) */
static uint64_t pack_scratch(const mb_mem_model *m, int n_threads) {
    uint64_t most = 0;
    for (int i = 0; i < m->n_pack; i++) {
        const uint64_t panel = m->pack[i].panel_bytes;
        const uint64_t share = (m->pack[i].panels + (uint64_t)n_threads - 1) / (uint64_t)n_threads;
        uint64_t tile = panel ? PACK_TILE / panel : 1;
        if (tile < 1) tile = 1;
        if (tile > share) tile = share;
        const uint64_t b = (panel * tile + 63) / 64 * 64;
        if (b > most) most = b;
    }
    return most;
}

/* Bytes per value of the activation rows a matrix of T's type is multiplied
 * with (F32, F16, Q8_0, Q8_K, ...): what the converted-activation buffers
 * fill. 0 for what is not a matrix product's weight. */
static double act_bytes_per_value(const mb_gguf_tensor *t) {
    /* The output projection converts the last row only; experts have their
     * own buffers. */
    if (t->n_dims < 2 || t->type >= MB_TYPE_COUNT || strstr(t->name, "_exps.") ||
        !strcmp(t->name, "output.weight") || !strcmp(t->name, "token_embd.weight"))
        return 0;
    const mb_type_traits *a = mb_type_get(mb_kernels()->dot[t->type].act_type);
    return a ? (double)a->type_size / a->block_size : 0;
}

static int is_norm(const char *name) {
    const size_t n = strlen(name), s = strlen("norm.weight");
    return n >= s && !strcmp(name + n - s, "norm.weight");
}

mb_status mb_mem_model_read(const mb_gguf *g, const mb_hparams *hp, mb_mem_model *m) {
    memset(m, 0, sizeof *m);
    if (hp) {
        m->hp = *hp;
    } else {
        mb_status st = mb_hparams_read(g, &m->hp);
        if (st) return st;
        const mb_gguf_value *tokens = NULL;
        const mb_gguf_tensor *emb = mb_gguf_find_tensor(g, "token_embd.weight");
        if (mb_gguf_get_arr(g, "tokenizer.ggml.tokens", &tokens) == MB_OK)
            m->hp.n_vocab = (int)(tokens->arr.n < (1u << 30) ? tokens->arr.n : 1u << 30);
        else if (emb && emb->n_dims >= 2)
            m->hp.n_vocab = (int)(emb->ne[1] < (1u << 30) ? emb->ne[1] : 1u << 30);
        mb_error_clear();
        if (m->hp.n_vocab <= 0)
            return mb_errorf(MB_ERR_FORMAT, "no vocabulary: neither tokenizer.ggml.tokens nor "
                                            "token_embd.weight says its size");
    }
    m->file_bytes = g->map.size;
    m->data_offset = g->data_offset;
    m->tied = 1;
    uint64_t layer[MB_MAX_LAYERS] = {0}; /* bytes of each blk.N */
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        m->weight_bytes += t->nbytes;
        if (!strcmp(t->name, "token_embd.weight")) m->embd_bytes = t->nbytes;
        if (!strcmp(t->name, "output.weight")) m->tied = 0;
        if (strstr(t->name, "_exps.")) m->expert_bytes += t->nbytes;
        if (is_norm(t->name) && t->type != MB_TYPE_F32) {
            uint64_t n = 1;
            for (uint32_t d = 0; d < t->n_dims; d++)
                n *= t->ne[d];
            m->converted_bytes += n * sizeof(float);
        }
        unsigned il = 0;
        int used = 0;
        if (sscanf(t->name, "blk.%u.%n", &il, &used) == 1 && used > 0 && il < MB_MAX_LAYERS)
            layer[il] += t->nbytes;
        else
            m->nonlayer_bytes += t->nbytes;
    }
    m->act_bytes_per_value = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        uint64_t panel = 0;
        const uint64_t panels = pack_panels(t, &panel);
        if (panels) add_pack_shape(m, panel, panels);
        const double a = act_bytes_per_value(t);
        if (a > m->act_bytes_per_value) m->act_bytes_per_value = a;
    }
    if (m->act_bytes_per_value <= 0) m->act_bytes_per_value = sizeof(float);
    for (int il = 0; il < MB_MAX_LAYERS; il++)
        if (layer[il] > m->layer_bytes_max) m->layer_bytes_max = layer[il];
    m->vocab_bytes = vocab_bytes(g);
    return MB_OK;
}

/* Weights decode reads per token: every matrix, the embedding only when it
 * is also the output, the experts' share a token routes to. */
static uint64_t read_per_token(const mb_mem_model *m) {
    uint64_t b = m->weight_bytes - (m->tied ? 0 : m->embd_bytes);
    if (m->hp.n_expert > 0 && m->expert_bytes > 0)
        b -= m->expert_bytes -
             m->expert_bytes / (uint64_t)m->hp.n_expert * (uint64_t)m->hp.n_expert_used;
    return b;
}

static double speed(const mb_fit_params *p, uint64_t mem_bytes, uint64_t disk_bytes) {
    if (p->mem_gbs <= 0) return 0;
    const double disk = p->disk_gbs > 0 ? p->disk_gbs : 1.0;
    const double t = (double)mem_bytes / (p->mem_gbs * 1e9) + (double)disk_bytes / (disk * 1e9);
    return t > 0 ? 1.0 / t : 0;
}

/* The parts and the total, without the searches. */
static void plan_core(const mb_mem_model *m, const mb_fit_params *p, int cores, mb_fit_result *r) {
    const mb_hparams *hp = &m->hp;
    memset(r, 0, sizeof *r);
    snprintf(r->arch, sizeof r->arch, "%s", hp->arch);
    r->n_layer = hp->n_layer;
    r->n_ctx_train = hp->n_ctx_train;
    r->n_vocab = hp->n_vocab;
    r->n_embd = hp->n_embd;
    r->n_head = hp->n_head;
    r->n_head_kv = hp->n_head_kv;
    r->head_dim = hp->head_dim;
    r->n_expert = hp->n_expert;
    r->file_bytes = m->file_bytes;
    r->weight_bytes = m->weight_bytes;
    r->layer_bytes_max = m->layer_bytes_max;
    r->n_ctx = mb_mem_n_ctx(hp, p->n_ctx);
    r->n_batch = mb_mem_n_batch(r->n_ctx);
    r->n_slots = p->n_slots > 0 ? p->n_slots : 1;
    if (p->n_threads > 0) {
        r->n_threads = p->n_threads;
    } else { /* as the engine shares the cores among its slots */
        r->n_threads = r->n_slots > 1 ? cores / r->n_slots : cores;
        if (r->n_threads < 1) r->n_threads = 1;
    }
    r->kv_type_k = p->kv_type_k > 0 ? p->kv_type_k : MB_TYPE_F16;
    r->kv_type_v = p->kv_type_v > 0 ? p->kv_type_v : MB_TYPE_F16;
    r->ram = p->ram;

    r->kv = mb_mem_kv_bytes(hp, r->n_ctx, r->n_batch, p->swa_full, r->kv_type_k, r->kv_type_v);
    if (p->kv_budget > 0) { /* a shared paged cache: whole blocks, split among the slots */
        const uint64_t block =
            mb_kv_block_bytes(hp, (uint32_t)r->kv_type_k, (uint32_t)r->kv_type_v);
        if (block > 0) r->kv = p->kv_budget / block * block / (uint64_t)r->n_slots;
    }
    r->kv_per_token = mb_mem_kv_bytes(hp, 1, 1, 1, r->kv_type_k, r->kv_type_v);
    const uint64_t logits = ((uint64_t)hp->n_vocab * sizeof(float) + 63) / 64 * 64;
    /* The buffers as allocated, less the share of the converted-activation
     * buffers the weights' activation type leaves untouched. */
    const uint64_t act = mb_forward_act_floats(hp, r->n_batch);
    r->activations = mb_forward_buffer_bytes(hp, r->n_ctx, r->n_batch, r->n_threads, m->lora_rank) -
                     logits - act * sizeof(float) +
                     (uint64_t)((double)act * m->act_bytes_per_value);
    /* The forward pass's logits, the session's saved copy, the sampler. */
    r->logits = logits + (uint64_t)hp->n_vocab * (sizeof(float) + SAMPLER_BYTES_PER_TOKEN);
    r->threads = (uint64_t)r->n_threads * (THREAD_STACK_BYTES + pack_scratch(m, r->n_threads));
    /* The token history of the session (and of an engine slot). */
    const uint64_t history = (uint64_t)r->n_ctx * sizeof(int32_t) * (r->n_slots > 1 ? 2 : 1);
    r->per_slot = r->kv + r->activations + r->logits + r->threads + history;
    if (r->n_slots > 1) /* mb_batch: a workspace of one row per slot, every slot's logits */
        r->batch = mb_forward_buffer_bytes(hp, 0, r->n_slots, cores, m->lora_rank) +
                   (uint64_t)r->n_slots * hp->n_vocab * sizeof(float) +
                   (uint64_t)cores * (THREAD_STACK_BYTES + pack_scratch(m, cores));

    r->mem_budget = p->mem_budget;
    if (p->mem_budget > 0 && p->mem_budget < m->weight_bytes) {
        r->weights_mode = MB_FIT_WEIGHTS_STREAMED;
        r->weights = p->mem_budget + m->converted_bytes;
        r->ring = (uint64_t)MB_FIT_RING_LAYERS * m->layer_bytes_max;
    } else {
        const int in_memory =
            p->use_mmap == 0 || (p->use_mmap < 0 && mb_file_map_fits_in_ram(m->file_bytes, p->ram));
        r->weights_mode = in_memory ? MB_FIT_WEIGHTS_MEMORY : MB_FIT_WEIGHTS_MMAP;
        /* In memory: the whole file is read into a buffer of whole 2 MiB
         * huge pages (core/file_map.c), which the kernel backs as such.
         * Mapped: the header the loader parses and every page decode reads
         * (an untied embedding's rows only as tokens look them up). */
        const uint64_t huge = 2u << 20;
        r->weights =
            (in_memory ? (m->file_bytes + huge - 1) / huge * huge
                       : m->data_offset + m->weight_bytes - (m->tied ? 0 : m->embd_bytes)) +
            m->converted_bytes;
    }
    r->vocab = m->vocab_bytes;
    r->runtime = (p->base_bytes ? p->base_bytes : MB_MEM_BASE_BYTES) + MB_MEM_RUN_EXTRA_BYTES;
    r->total = r->weights + r->ring + r->vocab + r->runtime + r->batch +
               (uint64_t)r->n_slots * r->per_slot;
    r->fits = r->total <= r->ram;

    r->read_per_token = read_per_token(m);
    if (r->weights_mode == MB_FIT_WEIGHTS_STREAMED) {
        const uint64_t out = m->weight_bytes - p->mem_budget;
        r->stream_per_token = out < r->read_per_token ? out : r->read_per_token;
    }
    const uint64_t from_mem = r->read_per_token - r->stream_per_token;
    r->tok_s = speed(p, from_mem, r->stream_per_token);
    r->tok_s_full = speed(p, from_mem + r->kv, r->stream_per_token);
}

void mb_mem_plan(const mb_mem_model *m, const mb_fit_params *p, mb_fit_result *r) {
    const int cores = mb_physical_cores(); /* read once: the searches plan many times */
    plan_core(m, p, cores, r);
    mb_fit_params q = *p;
    mb_fit_result t;
    /* The largest context that fits: the total grows with the context. */
    int lo = 0, hi = r->n_ctx > m->hp.n_ctx_train ? r->n_ctx : m->hp.n_ctx_train;
    if (hi > (1 << 24)) hi = 1 << 24;
    while (lo < hi) {
        q.n_ctx = lo + (hi - lo + 1) / 2;
        plan_core(m, &q, cores, &t);
        if (t.fits)
            lo = q.n_ctx;
        else
            hi = q.n_ctx - 1;
    }
    r->max_ctx = lo;
    q = *p;
    q.n_ctx = r->n_ctx;
    for (q.n_slots = 1; q.n_slots <= 256; q.n_slots++) {
        plan_core(m, &q, cores, &t);
        if (!t.fits) break;
        r->max_slots = q.n_slots;
    }
    if (r->fits) return;
    /* What else would make it fit: a quantized KV cache ... */
    const int kv_types[] = {MB_TYPE_Q8_0, MB_TYPE_Q4_0};
    q = *p;
    for (int i = 0; i < 2 && !r->kv_fit_type; i++) {
        /* Only a type this model's head size can take. */
        if (mb_kv_check_types(&m->hp, (uint32_t)kv_types[i], (uint32_t)kv_types[i])) {
            mb_error_clear();
            continue;
        }
        q.kv_type_k = q.kv_type_v = kv_types[i];
        plan_core(m, &q, cores, &t);
        if (t.fits && t.kv < r->kv) r->kv_fit_type = kv_types[i];
    }
    /* ... or the weights streamed under the largest budget that leaves room
     * for everything else and the ring (at least the tensors outside the
     * layers stay resident). */
    q = *p;
    q.mem_budget = 1;
    plan_core(m, &q, cores, &t);
    const uint64_t rest = t.total - t.weights + m->converted_bytes;
    if (p->ram > rest) {
        const uint64_t budget = (p->ram - rest) / (1 << 20) * (1 << 20);
        if (budget >= m->nonlayer_bytes && budget < m->weight_bytes) {
            q.mem_budget = budget;
            plan_core(m, &q, cores, &t);
            if (t.fits) {
                r->fit_budget = budget;
                r->fit_budget_tok_s = t.tok_s;
            }
        }
    }
}

static double mib(uint64_t b) {
    return (double)b / (1 << 20);
}

void mb_mem_describe(const mb_fit_result *r, char *buf, size_t cap) {
    const char *how = r->weights_mode == MB_FIT_WEIGHTS_MEMORY ? "in memory"
                      : r->weights_mode == MB_FIT_WEIGHTS_MMAP ? "mapped"
                                                               : "streamed";
    snprintf(buf, cap,
             "needs %.1f MiB (weights %.1f MiB %s, KV %.1f MiB for %d positions %s/%s, "
             "activations %.1f MiB, logits %.1f MiB, threads %.1f MiB%s, tokenizer %.1f MiB, "
             "runtime %.1f MiB) but %.1f MiB are available",
             mib(r->total), mib(r->weights + r->ring), how, mib(r->kv * (uint64_t)r->n_slots),
             r->n_ctx, mb_type_name((uint32_t)r->kv_type_k), mb_type_name((uint32_t)r->kv_type_v),
             mib(r->activations * (uint64_t)r->n_slots), mib(r->logits * (uint64_t)r->n_slots),
             mib(r->threads * (uint64_t)r->n_slots), r->n_slots > 1 ? ", all slots" : "",
             mib(r->vocab), mib(r->runtime), mib(r->ram));
}

uint64_t mb_mem_loaded_bytes(const mb_fit_result *r) {
    return r->runtime + r->vocab + (r->weights_mode == MB_FIT_WEIGHTS_MEMORY ? r->weights : 0);
}

uint64_t mb_mem_session_bytes(const mb_fit_result *r) {
    return r->total - mb_mem_loaded_bytes(r);
}

mb_status mb_mem_check(const mb_model *model, const mb_fit_params *p, const char *what) {
    const uint64_t avail = mb_mem_available();
    if (avail == 0) return MB_OK; /* unknown here: nothing to judge against */
    mb_mem_model m;
    mb_status st = mb_mem_model_read(model->gguf, &model->hp, &m);
    if (st) return st;
    m.lora_rank = model->lora ? model->lora->max_rank : 0;
    mb_fit_params q = *p;
    q.use_mmap = model->is_mmap;
    /* Under a memory budget (model/plan.c) what the weights hold is the plan's. */
    if (model->stream) q.mem_budget = model->ram_weight_bytes > 0 ? model->ram_weight_bytes : 1;
    q.ram = avail;
    mb_fit_result r;
    plan_core(&m, &q, mb_physical_cores(), &r);
    /* What the load made resident is already out of MemAvailable: judge
     * the whole plan against it plus what is available, as fit does before
     * the load. */
    q.ram = avail + mb_mem_loaded_bytes(&r);
    mb_mem_plan(&m, &q, &r);
    if (r.fits) return MB_OK;
    char need[512], hint[256];
    mb_mem_describe(&r, need, sizeof need);
    if (!mb_fit_suggest(&r, hint, sizeof hint)) snprintf(hint, sizeof hint, "a smaller model");
    return mb_errorf(MB_ERR_NO_MEMORY, "%s does not fit: %s (%.1f MiB already loaded); try %s",
                     what, need, (double)mb_mem_loaded_bytes(&r) / (1 << 20), hint);
}
