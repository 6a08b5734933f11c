/* The engine's shared paged KV cache (engine.h, kv_budget): the pool made
 * for the slots, what a job may need of it, its admission, its counters.
 * The blocks themselves are runtime/kv_pool.c's; a session's use of them
 * (page tables, adoption, publication) is runtime/session_paged.c's. */
#include <limits.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "engine/job.h"
#include "model/model.h"
#include "runtime/kv_pool.h"
#include "runtime/mem_plan.h"
#include "runtime/session.h"

/* The pool P asks for on M: its blocks' bytes and count (0 blocks: none,
 * the slots keep their own caches). */
static mb_status pool_size(const mb_model *m, const mb_engine_params *p,
                           const mb_session_params *sp, uint64_t *block_bytes, uint64_t *n_blocks) {
    const mb_hparams *hp = &m->hp;
    *block_bytes = *n_blocks = 0;
    if (p->kv_budget < 0 || m->vocab_only) return MB_OK;
    /* A windowed layer keeps a ring of its window per sequence, which a
     * block shared by many sequences cannot be. */
    for (int il = 0; il < hp->n_layer && !sp->swa_full; il++)
        if (hp->swa_layer[il]) return MB_OK;
    if (sp->n_ctx < 0 || sp->n_ctx > (1 << 24)) return MB_OK; /* the sessions refuse it */
    const int n_ctx = mb_mem_n_ctx(hp, sp->n_ctx);
    mb_status st = mb_session_kv_block_bytes(m, sp, block_bytes);
    if (st) return st;
    const uint64_t full = (uint64_t)p->n_slots * (uint64_t)mb_kv_blocks_for(n_ctx) * *block_bytes;
    const uint64_t budget = p->kv_budget > 0 ? (uint64_t)p->kv_budget : full;
    *n_blocks = budget / *block_bytes;
    if (*n_blocks < 1)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "a KV budget of %llu bytes is less than one block of the cache (%llu "
                         "bytes: %d positions of every layer's keys and values)",
                         (unsigned long long)budget, (unsigned long long)*block_bytes, MB_KV_BLOCK);
    if (*n_blocks > INT_MAX / 2)
        return mb_errorf(MB_ERR_INVALID_ARG, "a KV budget of %llu bytes is too large",
                         (unsigned long long)budget);
    return MB_OK;
}

uint64_t mb_engine_pool_bytes(const mb_model *m, const mb_engine_params *p,
                              const mb_session_params *sp) {
    uint64_t block_bytes, n_blocks;
    if (pool_size(m, p, sp, &block_bytes, &n_blocks)) return 0;
    return block_bytes * n_blocks;
}

mb_status mb_engine_pool_new(mb_engine *e, const mb_engine_params *p, const mb_session_params *sp) {
    uint64_t block_bytes, n_blocks;
    mb_status st = pool_size(e->model, p, sp, &block_bytes, &n_blocks);
    if (st || n_blocks == 0) return st;
    /* Its memory was judged with the slots' (engine.c, check_memory). */
    return mb_kv_pool_new((int)n_blocks, (size_t)block_bytes, &e->pool);
}

int mb_engine_job_positions(const mb_engine *e, const mb_engine_job *j) {
    long long n = (long long)j->n_prompt + e->spec_extra;
    n += j->req.max_tokens < 0 ? e->n_ctx : j->req.max_tokens;
    return n < e->n_ctx ? (int)n : e->n_ctx;
}

int mb_engine_pool_admit(mb_engine *e, slot *sl, mb_engine_job *j) {
    /* Without cache_prompt nothing is adopted: a one-token prompt's limit. */
    const int got =
        mb_session_kv_admit(sl->s, j->prompt, j->req.cache_prompt ? (int)j->n_prompt : 1,
                            mb_engine_job_positions(e, j));
    if (got < 0) return 0;
    sl->adopted = got;
    return 1;
}

void mb_engine_kv_get_stats(mb_engine *e, mb_engine_kv_stats *out) {
    memset(out, 0, sizeof *out);
    if (!e->pool) return;
    mb_kv_pool_stats st;
    mb_kv_pool_get_stats(e->pool, &st);
    out->paged = 1;
    out->n_blocks = st.n_blocks;
    out->block_positions = MB_KV_BLOCK;
    out->block_bytes = st.block_bytes;
    out->used = st.used;
    out->shared = st.shared;
    out->cached = st.cached;
    out->free = st.free;
    out->committed = st.committed;
    out->adopted_tokens = st.adopted_tokens;
    out->copies = st.copies;
    out->evictions = st.evictions;
}
