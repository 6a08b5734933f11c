/* A paged KV cache shared by many sequences (the engine's slots).
 *
 * Memory is one pool of fixed-size blocks; a block holds MB_KV_BLOCK
 * consecutive positions of every layer's keys and values. A sequence has a
 * block table (position p lives in table[p / MB_KV_BLOCK]) and a quota: the
 * blocks it may still take, promised at admission so that a running
 * sequence never finds the pool empty (a request that cannot be promised
 * its blocks waits instead: no OOM, no preemption).
 *
 * Prefix sharing: a block's contents depend only on the tokens at and
 * before its positions, so blocks are published in a tree keyed by their
 * parent block and their tokens. A new sequence adopts the longest chain
 * whose tokens begin its prompt (a reference, not a copy); when it writes
 * into a block it shares (its prompt diverges inside a block), it gets a
 * private copy first (copy on write). A block no sequence holds stays
 * cached for later prefixes until the space is needed (least recently
 * released first). The pool is thread-safe; a sequence is used by one
 * thread at a time. */
#ifndef MB_RUNTIME_KV_POOL_H
#define MB_RUNTIME_KV_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/kv_cache.h"
#include "matchbox.h"

/* Positions per block: one page of a paged cache (one attention tile). */
enum { MB_KV_BLOCK = MB_KV_PAGE_SLOTS };

typedef struct mb_kv_pool mb_kv_pool;

typedef struct {
    int n_blocks;  /* in the pool */
    int used;      /* held by at least one sequence */
    int shared;    /* held by two or more */
    int cached;    /* held by none, kept for their prefix */
    int free;      /* holding nothing */
    int committed; /* promised to sequences and not yet taken */
    uint64_t block_bytes;
    uint64_t adopted_tokens; /* prompt positions found in the pool instead of computed */
    uint64_t copies;         /* copy-on-write block copies */
    uint64_t evictions;      /* cached blocks reused for new contents */
    uint64_t merged;         /* blocks computed twice, published once */
} mb_kv_pool_stats;

/* One sequence's view. Zero-initialize, then mb_kv_seq_init. ON_CHANGE is
 * called (from the sequence's thread) with each table entry that changed,
 * so the owner can point its page tables at the new block. */
typedef struct {
    int *table; /* [n_table] block ids, -1: none */
    int n_table;
    int quota; /* blocks it may still take */
    void (*on_change)(void *user, int index, int block);
    void *user;
} mb_kv_seq;

/* N_BLOCKS blocks of BLOCK_BYTES each, allocated now (zeroed). */
mb_status mb_kv_pool_new(int n_blocks, size_t block_bytes, mb_kv_pool **out);
void mb_kv_pool_free(mb_kv_pool *p);
/* The memory of block ID (stable for the pool's life). */
uint8_t *mb_kv_pool_block(mb_kv_pool *p, int id);
int mb_kv_pool_n_blocks(const mb_kv_pool *p);

/* A sequence of up to N_CTX positions. */
mb_status mb_kv_seq_init(mb_kv_seq *s, int n_ctx, void (*on_change)(void *, int, int), void *user);
void mb_kv_seq_free(mb_kv_pool *p, mb_kv_seq *s);

/* Admit an empty sequence S for a prompt of N_PROMPT tokens that may grow
 * to N_TOTAL positions: adopt the longest published prefix of TOKENS (at
 * most n_prompt - 1 positions: the last token's logits are computed) and
 * promise the blocks the rest can need. Returns the positions adopted
 * (>= 0), or -1, leaving S empty, when the pool cannot promise them now
 * (blocks held by running sequences; try again after a release). */
int mb_kv_pool_admit(mb_kv_pool *p, mb_kv_seq *s, const mb_token *tokens, int n_prompt,
                     int n_total);
/* Blocks a sequence of N_TOTAL positions needs at most: whether the pool
 * could ever admit it. */
int mb_kv_blocks_for(int n_total);

/* Make positions [POS, POS + N) of S writable: blocks taken from its quota
 * where none is mapped, private copies of the shared ones, and a published
 * block being rewritten below its published length withdrawn. 0, or -1
 * when the quota is spent (a caller's bug: admission promised enough). */
int mb_kv_pool_prepare(mb_kv_pool *p, mb_kv_seq *s, int pos, int n);

/* Publish the blocks of S that hold positions [0, N) computed from TOKENS
 * (the last one possibly partial), so that later prompts can adopt them.
 * A full block whose twin (same parent, same tokens) is already published
 * is swapped for the twin, and its copy freed. */
void mb_kv_pool_publish(mb_kv_pool *p, mb_kv_seq *s, const mb_token *tokens, int n);

/* Drop every block of S (published ones stay cached) and its quota. */
void mb_kv_pool_release(mb_kv_pool *p, mb_kv_seq *s);

void mb_kv_pool_get_stats(mb_kv_pool *p, mb_kv_pool_stats *out);

#endif
