/* The paged KV pool (src/runtime/kv_pool.c) on its own: admission promises
 * blocks and refuses what cannot be promised, a published prefix is adopted
 * (whole blocks, and a partial block up to where the prompt diverges), a
 * shared block is copied before it is written (and the copy carries its
 * contents), twins are merged at publication, released blocks stay cached
 * and are evicted oldest first, and a random workload keeps every count
 * consistent. (test_engine_paged.c checks the engine's use of it.) */
#include <string.h>

#include "runtime/kv_pool.h"
#include "test_util.h"

enum { B = MB_KV_BLOCK, BYTES = 256 };

/* Write each position's token id into the block bytes (one byte per
 * position), as a forward pass writes keys. */
static void fill(mb_kv_pool *p, mb_kv_seq *s, const mb_token *tok, int from, int to) {
    for (int pos = from; pos < to; pos++)
        mb_kv_pool_block(p, s->table[pos / B])[pos % B] = (uint8_t)tok[pos];
}

/* Whether S's blocks hold TOK's bytes at positions [0, n). */
static int holds(mb_kv_pool *p, const mb_kv_seq *s, const mb_token *tok, int n) {
    for (int pos = 0; pos < n; pos++)
        if (s->table[pos / B] < 0 ||
            mb_kv_pool_block(p, s->table[pos / B])[pos % B] != (uint8_t)tok[pos])
            return 0;
    return 1;
}

static int changes;
static void on_change(void *user, int index, int block) {
    (void)user, (void)index, (void)block;
    changes++;
}

static void stats(mb_kv_pool *p, mb_kv_pool_stats *st) {
    mb_kv_pool_get_stats(p, st);
    CHECK_EQ_INT(st->used + st->cached + st->free, st->n_blocks);
    CHECK(st->committed >= 0 && st->committed <= st->free + st->cached);
}

/* A run: admit, compute (prepare + fill) the rest, publish, keep. */
static int run(mb_kv_pool *p, mb_kv_seq *s, const mb_token *tok, int n_prompt, int n_total) {
    const int got = mb_kv_pool_admit(p, s, tok, n_prompt, n_total);
    if (got < 0) return got;
    CHECK_EQ_INT(mb_kv_pool_prepare(p, s, got, n_prompt - got), 0);
    fill(p, s, tok, got, n_prompt);
    CHECK(holds(p, s, tok, n_prompt));
    mb_kv_pool_publish(p, s, tok, n_prompt);
    return got;
}

static void test_sharing(void) {
    mb_kv_pool *p;
    CHECK_OK(mb_kv_pool_new(32, BYTES, &p));
    mb_token a[8 * B], b[8 * B];
    for (int i = 0; i < 8 * B; i++)
        a[i] = b[i] = (mb_token)(i * 7 % 251);
    /* b shares a's first 2.5 blocks, then diverges inside block 2. */
    for (int i = 2 * B + B / 2; i < 8 * B; i++)
        b[i] = (mb_token)(a[i] + 1);
    mb_kv_seq sa, sb, sc;
    CHECK_OK(mb_kv_seq_init(&sa, 8 * B, on_change, NULL));
    CHECK_OK(mb_kv_seq_init(&sb, 8 * B, on_change, NULL));
    CHECK_OK(mb_kv_seq_init(&sc, 8 * B, on_change, NULL));
    CHECK_EQ_INT(run(p, &sa, a, 5 * B, 6 * B), 0);
    mb_kv_pool_stats st;
    stats(p, &st);
    CHECK_EQ_INT(st.used, 5);
    CHECK_EQ_INT(st.committed, 1); /* the sixth block, not taken yet */
    /* b adopts 2 whole blocks and half of the third, held once. */
    CHECK_EQ_INT(run(p, &sb, b, 5 * B, 5 * B), 2 * B + B / 2);
    CHECK_EQ_INT(sb.table[0], sa.table[0]);
    CHECK_EQ_INT(sb.table[1], sa.table[1]);
    CHECK(sb.table[2] != sa.table[2]); /* copied before writing its half */
    CHECK(holds(p, &sa, a, 5 * B));    /* a's contents untouched */
    stats(p, &st);
    CHECK_EQ_INT(st.shared, 2);
    CHECK_EQ_INT(st.used, 5 + 3);
    CHECK_EQ_INT(st.copies, 1);
    /* A prompt that is exactly a's: everything but the last token adopted. */
    CHECK_EQ_INT(run(p, &sc, a, 5 * B, 5 * B), 5 * B - 1);
    stats(p, &st);
    CHECK_EQ_INT(st.shared, 5);
    CHECK_EQ_INT(st.copies, 2); /* its last block is rewritten at 5B-1 */
    /* Released blocks stay cached; a later prompt adopts them. */
    mb_kv_pool_release(p, &sa);
    mb_kv_pool_release(p, &sb);
    mb_kv_pool_release(p, &sc);
    stats(p, &st);
    CHECK_EQ_INT(st.used, 0);
    CHECK_EQ_INT(st.committed, 0);
    CHECK(st.cached >= 5);
    CHECK_EQ_INT(run(p, &sa, b, 4 * B + 3, 4 * B + 3), 4 * B + 2);
    CHECK(holds(p, &sa, b, 4 * B + 3));
    mb_kv_pool_release(p, &sa);
    mb_kv_seq_free(p, &sa);
    mb_kv_seq_free(p, &sb);
    mb_kv_seq_free(p, &sc);
    mb_kv_pool_free(p);
}

static void test_admission_and_eviction(void) {
    mb_kv_pool *p;
    CHECK_OK(mb_kv_pool_new(4, BYTES, &p));
    mb_token t[4][4 * B];
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 4 * B; i++)
            t[k][i] = (mb_token)(k * 50 + i % 40);
    mb_kv_seq s[3];
    for (int k = 0; k < 3; k++)
        CHECK_OK(mb_kv_seq_init(&s[k], 4 * B, NULL, NULL));
    CHECK_EQ_INT(mb_kv_blocks_for(4 * B), 4);
    CHECK_EQ_INT(mb_kv_blocks_for(4 * B + 1), 5);
    CHECK_EQ_INT(run(p, &s[0], t[0], B, 3 * B), 0); /* promises 3 */
    /* 2 more cannot be promised while s[0] runs: refused, nothing held. */
    CHECK_EQ_INT(mb_kv_pool_admit(p, &s[1], t[1], B, 2 * B), -1);
    for (int i = 0; i < s[1].n_table; i++)
        CHECK_EQ_INT(s[1].table[i], -1);
    CHECK_EQ_INT(run(p, &s[1], t[1], B, B), 0); /* 1 fits */
    mb_kv_pool_stats st;
    stats(p, &st);
    CHECK_EQ_INT(st.free + st.cached - st.committed, 0);
    /* The quota is exact: s[0] may take two more blocks, not three. */
    CHECK_EQ_INT(mb_kv_pool_prepare(p, &s[0], B, 2 * B), 0);
    CHECK_EQ_INT(mb_kv_pool_prepare(p, &s[0], 3 * B, 1), -1);
    mb_kv_pool_release(p, &s[0]);
    mb_kv_pool_release(p, &s[1]);
    stats(p, &st);
    CHECK_EQ_INT(st.cached, 2); /* the published first blocks of t0 and t1 */
    /* A new prompt needing all 4 evicts both cached blocks. */
    CHECK_EQ_INT(run(p, &s[2], t[2], 4 * B, 4 * B), 0);
    stats(p, &st);
    CHECK_EQ_INT(st.evictions, 2);
    CHECK_EQ_INT(st.cached, 0);
    mb_kv_pool_release(p, &s[2]);
    /* Nothing of t0 is left to adopt. */
    CHECK_EQ_INT(run(p, &s[0], t[0], B + 5, B + 5), 0);
    mb_kv_pool_release(p, &s[0]);
    for (int k = 0; k < 3; k++)
        mb_kv_seq_free(p, &s[k]);
    mb_kv_pool_free(p);
}

static void test_merge_twins(void) {
    mb_kv_pool *p;
    CHECK_OK(mb_kv_pool_new(16, BYTES, &p));
    mb_token t[3 * B];
    for (int i = 0; i < 3 * B; i++)
        t[i] = (mb_token)(i % 97);
    mb_kv_seq a, b;
    CHECK_OK(mb_kv_seq_init(&a, 3 * B, NULL, NULL));
    CHECK_OK(mb_kv_seq_init(&b, 3 * B, NULL, NULL));
    /* Admitted together, both compute the same two blocks... */
    CHECK_EQ_INT(mb_kv_pool_admit(p, &a, t, 2 * B + 1, 3 * B), 0);
    CHECK_EQ_INT(mb_kv_pool_admit(p, &b, t, 2 * B + 1, 3 * B), 0);
    CHECK_EQ_INT(mb_kv_pool_prepare(p, &a, 0, 2 * B + 1), 0);
    CHECK_EQ_INT(mb_kv_pool_prepare(p, &b, 0, 2 * B + 1), 0);
    fill(p, &a, t, 0, 2 * B + 1);
    fill(p, &b, t, 0, 2 * B + 1);
    mb_kv_pool_stats st;
    stats(p, &st);
    CHECK_EQ_INT(st.used, 6);
    /* ...and publishing their whole blocks holds them once. */
    mb_kv_pool_publish(p, &a, t, 2 * B);
    mb_kv_pool_publish(p, &b, t, 2 * B);
    stats(p, &st);
    CHECK_EQ_INT(st.merged, 2);
    CHECK_EQ_INT(st.used, 4);
    CHECK_EQ_INT(st.shared, 2);
    CHECK(holds(p, &b, t, 2 * B + 1));
    /* b goes on writing its own third block. */
    CHECK_EQ_INT(mb_kv_pool_prepare(p, &b, 2 * B + 1, 5), 0);
    stats(p, &st);
    CHECK_EQ_INT(st.copies, 0);
    mb_kv_seq_free(p, &a);
    mb_kv_seq_free(p, &b);
    stats(p, &st);
    CHECK_EQ_INT(st.used, 0);
    mb_kv_pool_free(p);
}

/* Random admissions, writes, publications and releases over a few token
 * streams that share prefixes: counts stay consistent, and every admitted
 * sequence reads back exactly its tokens. */
static void test_random(void) {
    enum { N_SEQ = 5, CTX = 6 * B };
    mb_kv_pool *p;
    CHECK_OK(mb_kv_pool_new(20, BYTES, &p));
    mb_kv_seq s[N_SEQ];
    int n[N_SEQ] = {0}, live[N_SEQ] = {0};
    mb_token tok[N_SEQ][CTX];
    for (int k = 0; k < N_SEQ; k++)
        CHECK_OK(mb_kv_seq_init(&s[k], CTX, NULL, NULL));
    uint64_t rng = 42;
    int bad = 0, admitted = 0, adopted = 0;
    for (int step = 0; step < 4000; step++) {
        const int k = (int)(mbt_rand_u64(&rng) % N_SEQ);
        const int op = (int)(mbt_rand_u64(&rng) % 4);
        if (!live[k]) {
            /* A prompt from one of 3 families, varied after a random point. */
            const int fam = (int)(mbt_rand_u64(&rng) % 3);
            const int len = 2 + (int)(mbt_rand_u64(&rng) % (CTX - 2));
            const int div = (int)(mbt_rand_u64(&rng) % (CTX + 1));
            for (int i = 0; i < CTX; i++)
                tok[k][i] =
                    (mb_token)(i < div ? fam * 60 + i % 50 : 200 + (int)(mbt_rand_u64(&rng) % 50));
            const int got = mb_kv_pool_admit(p, &s[k], tok[k], len, CTX);
            if (got < 0) continue;
            admitted++;
            adopted += got > 0;
            bad += !holds(p, &s[k], tok[k], got);
            if (mb_kv_pool_prepare(p, &s[k], got, len - got)) bad++;
            fill(p, &s[k], tok[k], got, len);
            n[k] = len;
            live[k] = 1;
        } else if (op == 0) {
            mb_kv_pool_publish(p, &s[k], tok[k], n[k]);
        } else if (op == 1 && n[k] < CTX) {
            if (mb_kv_pool_prepare(p, &s[k], n[k], 1)) bad++;
            fill(p, &s[k], tok[k], n[k], n[k] + 1);
            n[k]++;
        } else {
            if (op == 2) mb_kv_pool_publish(p, &s[k], tok[k], n[k]);
            bad += !holds(p, &s[k], tok[k], n[k]);
            mb_kv_pool_release(p, &s[k]);
            live[k] = 0;
        }
        mb_kv_pool_stats st;
        mb_kv_pool_get_stats(p, &st);
        if (st.used + st.cached + st.free != st.n_blocks || st.committed < 0 ||
            st.committed > st.free + st.cached)
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(admitted > 100);
    CHECK(adopted > 10);
    for (int k = 0; k < N_SEQ; k++)
        mb_kv_seq_free(p, &s[k]);
    mb_kv_pool_stats st;
    mb_kv_pool_get_stats(p, &st);
    CHECK_EQ_INT(st.used, 0);
    CHECK_EQ_INT(st.committed, 0);
    mb_kv_pool_free(p);
}

int main(void) {
    test_sharing();
    test_admission_and_eviction();
    test_merge_twins();
    test_random();
    CHECK(changes > 0);
    mb_kv_pool *p;
    CHECK(mb_kv_pool_new(0, BYTES, &p) == MB_ERR_INVALID_ARG);
    return mbt_finish();
}
