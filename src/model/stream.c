/* Layers streamed through a ring of buffers by prefetch threads (stream.h).
 *
 * Sequence numbers order the reads: the streamed layers, in layer order,
 * repeat once per forward pass, and read q goes to slot q % n_ring. The
 * prefetcher reads q while q < consumed + n_ring (the slot's previous read
 * was released); the pass waits until slot consumed % n_ring holds read
 * `consumed`. A pass stopped midway (abort, error) leaves the ring out of
 * step: the next pass skips the reads it will not use. */
#include "model/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "tensor/types.h"

/* Prefetch threads: each takes the next read the ring has room for, so
 * two read two layers at once while the pass waits (a pread from the page
 * cache is a copy by one core). */
enum { MAX_READERS = 4, DEFAULT_READERS = 2 };

ssize_t (*mb_stream_pread_fn)(int fd, void *buf, size_t n, off_t off) = pread;

typedef struct {
    uint8_t *buf;
    int64_t seq; /* the read it holds; -1 while reading */
    int busy;    /* a prefetch thread is reading into it (maybe a read the
                    pass skipped): no other may start on it */
    mb_status err;
    char msg[512];
    mb_layer layer; /* the layer's pointers rebased into buf */
} slot;

struct mb_stream {
    const mb_model *m;
    mb_weight_plan plan;
    int fd, use_mmap;
    int drop_cache; /* MATCHBOX_STREAM_DROP=1: each read leaves the page cache */
    char path[256];
    pthread_mutex_t pass; /* one forward pass at a time */
    pthread_mutex_t mu;   /* the fields below */
    pthread_cond_t cv;
    pthread_t threads[MAX_READERS];
    int n_threads, quit;
    int n_streamed; /* layers n_resident .. n_layer - 1 */
    int64_t fetched, consumed;
    slot *slots;
    uint8_t *embd_row;
    mb_expert_cache *experts;
    uint64_t passes, bytes_read;
};

mb_status mb_stream_read(int fd, uint8_t *dst, uint64_t len, uint64_t off, const char *what) {
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = mb_stream_pread_fn(fd, dst + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return mb_errorf(MB_ERR_IO, "reading %s (%llu bytes at offset %llu): %s", what,
                             (unsigned long long)len, (unsigned long long)off, strerror(errno));
        if (n == 0)
            return mb_errorf(MB_ERR_IO,
                             "reading %s: the file ends at byte %llu, inside its %llu bytes at "
                             "offset %llu (it shrank or changed while the model was loaded)",
                             what, (unsigned long long)(off + done), (unsigned long long)len,
                             (unsigned long long)off);
        done += (uint64_t)n;
    }
    return MB_OK;
}

/* P points into the mapping; the same byte in the buffer of layer IL. */
static const uint8_t *rebase(const mb_stream *s, int il, const uint8_t *buf, const uint8_t *p) {
    const uint8_t *base = s->m->gguf->map.data;
    for (int k = s->plan.span_at[il]; p && k < s->plan.span_at[il + 1]; k++) {
        const mb_span *sp = &s->plan.spans[k];
        if (p >= base + sp->off && p < base + sp->off + sp->len)
            return buf + sp->buf_off + (uint64_t)(p - (base + sp->off));
    }
    return p; /* resident (a norm, a bias) */
}

static void rebase_layer(const mb_stream *s, int il, const uint8_t *buf, mb_layer *l) {
    *l = s->m->layers[il];
    mb_matrix *mats[] = {&l->wq,     &l->wk,   &l->wv,     &l->wo,
                         &l->w_gate, &l->w_up, &l->w_down, &l->gate_inp};
    for (size_t i = 0; i < sizeof mats / sizeof *mats; i++)
        mats[i]->data = rebase(s, il, buf, mats[i]->data);
}

/* madvise over whole pages around the spans of layer IL. */
static void advise_layer(const mb_stream *s, int il, int advice) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uint8_t *base = s->m->gguf->map.data;
    for (int k = s->plan.span_at[il]; k < s->plan.span_at[il + 1]; k++) {
        const mb_span *sp = &s->plan.spans[k];
        uintptr_t lo = (uintptr_t)(base + sp->off) & ~(page - 1);
        uintptr_t hi = ((uintptr_t)(base + sp->off + sp->len) + page - 1) & ~(page - 1);
        madvise((void *)lo, hi - lo, advice);
    }
}

/* Read streamed layer IL into slot SL (the caller does not hold mu). */
static mb_status read_layer(mb_stream *s, int il, slot *sl) {
    if (s->use_mmap) {
        advise_layer(s, il, MADV_WILLNEED);
        sl->layer = s->m->layers[il];
        return MB_OK;
    }
    char what[300];
    snprintf(what, sizeof what, "%s, layer %d", s->path, il);
    for (int k = s->plan.span_at[il]; k < s->plan.span_at[il + 1]; k++) {
        const mb_span *sp = &s->plan.spans[k];
        mb_status st = mb_stream_read(s->fd, sl->buf + sp->buf_off, sp->len, sp->off, what);
        if (st) return st;
        /* Measurement: every pass reads from storage, as on a device whose
         * page cache cannot hold the streamed layers. */
        if (s->drop_cache)
            posix_fadvise(s->fd, (off_t)sp->off, (off_t)sp->len, POSIX_FADV_DONTNEED);
    }
    rebase_layer(s, il, sl->buf, &sl->layer);
    return MB_OK;
}

static void *prefetch_main(void *arg) {
    mb_stream *s = arg;
    const int ring = s->plan.n_ring;
    pthread_mutex_lock(&s->mu);
    while (!s->quit) {
        if (s->fetched < s->consumed) s->fetched = s->consumed;
        if (s->fetched >= s->consumed + ring || s->slots[s->fetched % ring].busy) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        const int64_t q = s->fetched++;
        slot *sl = &s->slots[q % ring];
        const int il = s->plan.n_resident + (int)(q % s->n_streamed);
        sl->seq = -1;
        sl->busy = 1;
        pthread_mutex_unlock(&s->mu);
        mb_status st = read_layer(s, il, sl);
        pthread_mutex_lock(&s->mu);
        sl->err = st;
        if (st) snprintf(sl->msg, sizeof sl->msg, "%s", mb_last_error());
        sl->seq = q;
        sl->busy = 0;
        for (int k = s->plan.span_at[il]; !st && k < s->plan.span_at[il + 1]; k++)
            s->bytes_read += s->plan.spans[k].len;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

mb_status mb_stream_new(const mb_model *m, const char *path, mb_weight_plan *plan,
                        mb_stream **out) {
    *out = NULL;
    mb_stream *s = calloc(1, sizeof *s);
    if (!s) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    s->m = m;
    s->plan = *plan;
    memset(plan, 0, sizeof *plan); /* the spans are the stream's now */
    s->fd = -1;
    snprintf(s->path, sizeof s->path, "%s", path);
    const char *mode = getenv("MATCHBOX_STREAM");
    s->use_mmap = mode && !strcmp(mode, "mmap");
    const char *drop = getenv("MATCHBOX_STREAM_DROP");
    s->drop_cache = drop && !strcmp(drop, "1");
    pthread_mutex_init(&s->pass, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    mb_status st = MB_OK;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) st = mb_errorf(MB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    s->n_streamed = s->plan.n_layer - s->plan.n_resident;
    if (!st && s->n_streamed > 0) {
        s->slots = calloc((size_t)s->plan.n_ring, sizeof *s->slots);
        if (!s->slots) st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
        for (int i = 0; !st && i < s->plan.n_ring; i++) {
            s->slots[i].seq = -2;
            if (s->use_mmap) continue;
            s->slots[i].buf = aligned_alloc(64, s->plan.buf_bytes);
            if (!s->slots[i].buf)
                st = mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate a layer buffer of %llu bytes",
                               (unsigned long long)s->plan.buf_bytes);
        }
    }
    if (!st && s->plan.embd_row_bytes &&
        !(s->embd_row = aligned_alloc(64, (s->plan.embd_row_bytes + 63) / 64 * 64)))
        st = mb_errorf(MB_ERR_NO_MEMORY, "out of memory");
    if (!st && s->plan.experts_on_demand) st = mb_expert_cache_new(m, &s->plan, s->fd, &s->experts);
    const char *readers = getenv("MATCHBOX_STREAM_THREADS");
    int n_readers = readers ? atoi(readers) : DEFAULT_READERS;
    if (n_readers < 1 || n_readers > MAX_READERS) n_readers = DEFAULT_READERS;
    if (n_readers > s->plan.n_ring) n_readers = s->plan.n_ring;
    for (int i = 0; !st && s->n_streamed > 0 && i < n_readers; i++) {
        if (pthread_create(&s->threads[i], NULL, prefetch_main, s) != 0)
            st = mb_errorf(MB_ERR_NO_MEMORY, "cannot start a prefetch thread");
        else
            s->n_threads++;
    }
    if (st) {
        mb_stream_free(s);
        return st;
    }
    *out = s;
    return MB_OK;
}

void mb_stream_free(mb_stream *s) {
    if (!s) return;
    if (s->n_threads) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        for (int i = 0; i < s->n_threads; i++)
            pthread_join(s->threads[i], NULL);
    }
    for (int i = 0; s->slots && i < s->plan.n_ring; i++)
        free(s->slots[i].buf);
    free(s->slots);
    free(s->embd_row);
    mb_expert_cache_free(s->experts);
    if (s->fd >= 0) close(s->fd);
    mb_plan_free(&s->plan);
    pthread_mutex_destroy(&s->pass);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

void mb_stream_pass_begin(mb_stream *s) {
    pthread_mutex_lock(&s->pass);
    pthread_mutex_lock(&s->mu);
    s->passes++;
    pthread_mutex_unlock(&s->mu);
}

void mb_stream_pass_end(mb_stream *s) {
    pthread_mutex_unlock(&s->pass);
}

mb_status mb_stream_layer(mb_stream *s, int il, const mb_layer **out) {
    if (il < s->plan.n_resident) {
        *out = &s->m->layers[il];
        return MB_OK;
    }
    const int j = il - s->plan.n_resident, ring = s->plan.n_ring;
    pthread_mutex_lock(&s->mu);
    /* Skip the reads of layers a stopped pass did not use. */
    if (s->consumed % s->n_streamed != j) {
        s->consumed += (j - s->consumed % s->n_streamed + s->n_streamed) % s->n_streamed;
        pthread_cond_broadcast(&s->cv);
    }
    slot *sl = &s->slots[s->consumed % ring];
    while (sl->seq != s->consumed)
        pthread_cond_wait(&s->cv, &s->mu);
    mb_status st = sl->err;
    if (st) {
        /* Once more from here (the slot is the pass's until released): the
         * prefetcher may have failed on a condition already gone. */
        pthread_mutex_unlock(&s->mu);
        st = read_layer(s, il, sl);
        pthread_mutex_lock(&s->mu);
        sl->err = st;
    }
    if (st) {
        s->consumed++; /* the pass stops; the next reads the layer again */
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    *out = st ? NULL : &sl->layer;
    return st;
}

void mb_stream_release(mb_stream *s, int il) {
    if (il < s->plan.n_resident) return;
    if (s->use_mmap) advise_layer(s, il, MADV_DONTNEED);
    pthread_mutex_lock(&s->mu);
    s->consumed++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

mb_status mb_stream_embed(mb_stream *s, const mb_token *tokens, int n, float *x) {
    const mb_matrix *e = &s->m->tok_embd;
    if (!s->plan.embd_row_bytes) {
        mb_get_rows(e, tokens, n, x);
        return MB_OK;
    }
    const uint64_t base = (uint64_t)(e->data - s->m->gguf->map.data);
    char what[300];
    snprintf(what, sizeof what, "%s, token_embd.weight", s->path);
    for (int t = 0; t < n; t++) {
        mb_status st = mb_stream_read(s->fd, s->embd_row, e->row_bytes,
                                      base + (uint64_t)tokens[t] * e->row_bytes, what);
        if (st) return st;
        mb_type_get(e->type)->to_float(s->embd_row, x + (size_t)t * e->n_in, e->n_in);
    }
    pthread_mutex_lock(&s->mu);
    s->bytes_read += (uint64_t)n * e->row_bytes;
    pthread_mutex_unlock(&s->mu);
    return MB_OK;
}

mb_status mb_stream_expert(void *stream, int il, int e, const mb_matrix **mats) {
    mb_stream *s = stream;
    return mb_expert_cache_get(s->experts, il, e, mats);
}

void mb_stream_stats_get(mb_stream *s, mb_stream_stats *o) {
    const mb_weight_plan *p = &s->plan;
    pthread_mutex_lock(&s->mu);
    o->passes = s->passes;
    o->bytes_read = s->bytes_read;
    pthread_mutex_unlock(&s->mu);
    if (s->experts) {
        uint64_t bytes = 0;
        mb_expert_cache_counts(s->experts, &o->expert_hits, &o->expert_misses, &bytes);
        o->bytes_read += bytes;
    }
    o->budget = p->budget;
    o->resident_bytes = p->resident_bytes;
    o->streamed_bytes = p->streamed_bytes;
    o->buffer_bytes = (uint64_t)p->n_ring * p->buf_bytes;
    o->expert_cache_bytes = (uint64_t)p->n_cache * p->expert_bytes;
    o->n_layer = p->n_layer;
    o->n_resident_layers = p->n_resident;
    o->n_cache_experts = p->n_cache;
    o->n_experts = p->n_layer * p->n_expert;
    mb_plan_describe(p, o->plan, sizeof o->plan);
}
