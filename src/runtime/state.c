/* Session state: save a conversation (the tokens fed, the last logits, the
 * KV cache of the positions held) and restore it into a session of the same
 * model. The layout is in docs/FORMAT.md ("Session state"). Loading checks
 * the whole file (header, fingerprint, size, every token id) before it
 * touches the session, so a bad file leaves the session as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "matchbox/files.h"
#include "model/lora.h"
#include "runtime/session.h"
#include "tensor/types.h"

/* Version 2 records the K and V types apart (version 1: F16 only, still
 * read). */
enum {
    STATE_VERSION = 2,
    HEADER_BYTES = 112,
    ARCH_BYTES = 32,
};
static const char k_magic[8] = "MBSTATE";

/* The header: every field little-endian at a fixed offset (FORMAT.md). */
typedef struct {
    uint32_t version;
    uint32_t kv_type; /* K's type | V's << 16 (version 1: 1, both F16) */
    char arch[ARCH_BYTES];
    uint32_t n_layer, n_embd, n_head, n_head_kv, head_dim, n_vocab, sliding_window, n_swa;
    uint64_t weight_bytes, adapter;
    uint32_t n_past, kv_lo;
    uint64_t total; /* bytes of the whole state */
} header;

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* FNV-1a over a LoRA adapter's shape, scales and first values: a state
 * made with an adapter (or another one) is refused without it. 0: none. */
static uint64_t adapter_hash(const mb_lora *l) {
    if (!l) return 0;
    uint64_t h = 1469598103934665603ull;
#define MIX(ptr, len)                                                                              \
    for (size_t k_ = 0; k_ < (len); k_++)                                                          \
        h = (h ^ ((const uint8_t *)(ptr))[k_]) * 1099511628211ull;
    for (int i = 0; i < l->n; i++) {
        const mb_lora_weight *w = &l->w[i];
        MIX(w->name, strlen(w->name));
        MIX(&w->rank, sizeof w->rank);
        MIX(&w->scale, sizeof w->scale);
        MIX(w->a, (size_t)(w->rank * w->in < 16 ? w->rank * w->in : 16) * sizeof(float));
        MIX(w->b, (size_t)(w->rank * w->out < 16 ? w->rank * w->out : 16) * sizeof(float));
    }
#undef MIX
    return h ? h : 1;
}

static int is_windowed(const mb_hparams *hp, int il) {
    return hp->sliding_window > 0 && hp->swa_layer[il];
}

static uint32_t type_k(uint32_t kv_type) {
    return kv_type & 0xFFFF;
}
static uint32_t type_v(uint32_t kv_type) {
    return kv_type >> 16;
}

/* The model's side of the header (n_past, kv_lo and total left at 0), for
 * a cache of K rows of TK and V rows of TV. */
static header fingerprint(const mb_model *m, uint32_t tk, uint32_t tv) {
    const mb_hparams *hp = &m->hp;
    header h = {.version = STATE_VERSION,
                .kv_type = tk | tv << 16,
                .n_layer = (uint32_t)hp->n_layer,
                .n_embd = (uint32_t)hp->n_embd,
                .n_head = (uint32_t)hp->n_head,
                .n_head_kv = (uint32_t)hp->n_head_kv,
                .head_dim = (uint32_t)hp->head_dim,
                .n_vocab = (uint32_t)hp->n_vocab,
                .sliding_window = (uint32_t)(hp->sliding_window > 0 ? hp->sliding_window : 0),
                .weight_bytes = m->weight_bytes,
                .adapter = adapter_hash(m->lora)};
    snprintf(h.arch, sizeof h.arch, "%s", hp->arch);
    for (int il = 0; il < hp->n_layer; il++)
        h.n_swa += (uint32_t)is_windowed(hp, il);
    return h;
}

/* Bytes of a state of H's shape (its n_past and kv_lo), or 0 on overflow. */
static uint64_t state_bytes(const header *h) {
    /* K's and V's bytes of one position of one layer (0: a type whose rows
     * the head size does not fill, refused by the caller). */
    uint64_t rk = 0, rv = 0;
    if (!mb_type_row_bytes(type_k(h->kv_type), h->head_dim, &rk) ||
        !mb_type_row_bytes(type_v(h->kv_type), h->head_dim, &rv) || rk + rv == 0)
        return 0;
    const uint64_t row = (rk + rv) * h->n_head_kv;
    const uint64_t full = h->n_layer - h->n_swa, swa = h->n_swa;
    const uint64_t rows = full * h->n_past + swa * (uint64_t)(h->n_past - h->kv_lo);
    if (rows > UINT64_MAX / 4 / row) return 0;
    return HEADER_BYTES + 4ull * h->n_past + 4ull * h->n_vocab + rows * row;
}

static void encode(const header *h, uint8_t *b) {
    memset(b, 0, HEADER_BYTES);
    memcpy(b, k_magic, 8);
    put32(b + 8, h->version);
    put32(b + 12, h->kv_type);
    memcpy(b + 16, h->arch, ARCH_BYTES);
    const uint32_t dims[8] = {h->n_layer,  h->n_embd,  h->n_head,         h->n_head_kv,
                              h->head_dim, h->n_vocab, h->sliding_window, h->n_swa};
    for (int i = 0; i < 8; i++)
        put32(b + 48 + 4 * i, dims[i]);
    put64(b + 80, h->weight_bytes);
    put64(b + 88, h->adapter);
    put32(b + 96, h->n_past);
    put32(b + 100, h->kv_lo);
    put64(b + 104, h->total);
}

static void decode(const uint8_t *b, header *h) {
    h->version = get32(b + 8);
    h->kv_type = get32(b + 12);
    if (h->version == 1 && h->kv_type == MB_TYPE_F16) h->kv_type |= MB_TYPE_F16 << 16;
    memcpy(h->arch, b + 16, ARCH_BYTES);
    h->arch[ARCH_BYTES - 1] = '\0';
    uint32_t *dims[8] = {&h->n_layer,  &h->n_embd,  &h->n_head,         &h->n_head_kv,
                         &h->head_dim, &h->n_vocab, &h->sliding_window, &h->n_swa};
    for (int i = 0; i < 8; i++)
        *dims[i] = get32(b + 48 + 4 * i);
    h->weight_bytes = get64(b + 80);
    h->adapter = get64(b + 88);
    h->n_past = get32(b + 96);
    h->kv_lo = get32(b + 100);
    h->total = get64(b + 104);
}

/* The header of S's state. */
static header state_header(const mb_session *s) {
    header h = fingerprint(s->model, s->fwd->kv.type[MB_KV_K], s->fwd->kv.type[MB_KV_V]);
    h.n_past = (uint32_t)s->n_past;
    if (h.n_swa > 0 && s->n_past > 0) {
        const int lo = mb_forward_oldest_kept(s->fwd);
        h.kv_lo = (uint32_t)(lo < s->n_past ? lo : s->n_past);
    }
    h.total = state_bytes(&h);
    return h;
}

/* A sink: a stream or a memory buffer with room for the whole state. */
typedef struct {
    FILE *f;
    uint8_t *p;
} sink;

static int put(sink *o, const void *data, size_t n) {
    if (o->f) return fwrite(data, 1, n, o->f) == n ? 0 : -1;
    memcpy(o->p, data, n);
    o->p += n;
    return 0;
}

/* Layer IL's K or V (WHICH) rows of positions LO..n_past-1, in order. */
static int put_rows(sink *o, const mb_forward_state *f, int which, int il, int lo, int n_past) {
    for (int p = lo; p < n_past; p++)
        if (put(o, mb_kv_row(&f->kv, il, which, p), f->kv.row_bytes[which])) return -1;
    return 0;
}

static int put_state(const mb_session *s, const header *h, sink *o) {
    uint8_t b[HEADER_BYTES];
    encode(h, b);
    const mb_forward_state *f = s->fwd;
    const mb_hparams *hp = &s->model->hp;
    if (put(o, b, sizeof b) || put(o, s->history, (size_t)s->n_past * sizeof(mb_token)) ||
        put(o, f->logits, (size_t)hp->n_vocab * sizeof(float)))
        return -1;
    for (int il = 0; il < hp->n_layer; il++) {
        const int lo = is_windowed(hp, il) ? (int)h->kv_lo : 0;
        if (put_rows(o, f, MB_KV_K, il, lo, s->n_past) ||
            put_rows(o, f, MB_KV_V, il, lo, s->n_past))
            return -1;
    }
    return 0;
}

size_t mb_session_state_size(const mb_session *s) {
    return (size_t)state_header(s).total;
}

mb_status mb_session_state_write(const mb_session *s, void *buf, size_t cap, size_t *n_out) {
    const header h = state_header(s);
    *n_out = (size_t)h.total;
    if (cap < h.total)
        return mb_errorf(MB_ERR_INVALID_ARG, "the state takes %llu bytes; the buffer has %zu",
                         (unsigned long long)h.total, cap);
    sink o = {.p = buf};
    put_state(s, &h, &o);
    return MB_OK;
}

mb_status mb_session_state_save(const mb_session *s, const char *path) {
    mb_status st = mb_outfile_check(path);
    if (st) return st;
    char *tmp = NULL;
    const int fd = mb_outfile_create(path, &tmp);
    if (fd < 0) return mb_last_error()[0] ? MB_ERR_IO : mb_errorf(MB_ERR_IO, "%s", path);
    FILE *f = fdopen(fd, "wb");
    const header h = state_header(s);
    sink o = {.f = f};
    const int failed = !f || put_state(s, &h, &o) != 0;
    if ((f ? fclose(f) : close(fd)) != 0 || failed) {
        mb_outfile_discard(tmp);
        return mb_errorf(MB_ERR_IO, "%s: cannot write the session state", path);
    }
    return mb_outfile_commit(tmp, path);
}

/* A source: a stream or LEFT bytes of memory. */
typedef struct {
    FILE *f;
    const uint8_t *p;
    size_t left;
} source;

static int get(source *in, void *dst, size_t n) {
    if (in->f) return fread(dst, 1, n, in->f) == n ? 0 : -1;
    if (n > in->left) return -1;
    memcpy(dst, in->p, n);
    in->p += n;
    in->left -= n;
    return 0;
}

static int skip(source *in, uint64_t n) {
    if (in->f) return fseeko(in->f, (off_t)n, SEEK_CUR) == 0 ? 0 : -1;
    if (n > in->left) return -1;
    in->p += n;
    in->left -= (size_t)n;
    return 0;
}

/* The first field in which the state's model differs from this one. */
static mb_status check_model(const header *got, const header *want) {
    if (strcmp(got->arch, want->arch) != 0)
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "the state is of another model: architecture '%s', this model's '%s'",
                         got->arch, want->arch);
    static const char *const names[] = {
        "layer count",  "embedding size",   "head count",     "KV head count",
        "head size",    "vocabulary size",  "sliding window", "windowed layer count",
        "weight bytes", "LoRA adapter hash"};
    const uint64_t g[] = {got->n_layer,      got->n_embd,  got->n_head,         got->n_head_kv,
                          got->head_dim,     got->n_vocab, got->sliding_window, got->n_swa,
                          got->weight_bytes, got->adapter};
    const uint64_t w[] = {want->n_layer,      want->n_embd,  want->n_head,         want->n_head_kv,
                          want->head_dim,     want->n_vocab, want->sliding_window, want->n_swa,
                          want->weight_bytes, want->adapter};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (g[i] != w[i])
            return mb_errorf(MB_ERR_INVALID_ARG,
                             "the state is of another model: %s %llu in the state, %llu in this "
                             "model (%s)",
                             names[i], (unsigned long long)g[i], (unsigned long long)w[i],
                             want->arch);
    /* The rows are stored as the cache holds them: no conversion on load. */
    if (got->kv_type != want->kv_type) {
        char g_k[32], g_v[32];
        snprintf(g_k, sizeof g_k, "%s", mb_type_name(type_k(got->kv_type)));
        snprintf(g_v, sizeof g_v, "%s", mb_type_name(type_v(got->kv_type)));
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "the state's KV cache is K %s, V %s; this session's is K %s, V %s "
                         "(load it into a session with the same --kv-type-k/--kv-type-v)",
                         g_k, g_v, mb_type_name(type_k(want->kv_type)),
                         mb_type_name(type_v(want->kv_type)));
    }
    return MB_OK;
}

/* Read and check the header of a state of AVAIL bytes against S. */
static mb_status read_header(const mb_session *s, source *in, uint64_t avail, header *h) {
    uint8_t b[HEADER_BYTES];
    if (avail < HEADER_BYTES || get(in, b, HEADER_BYTES))
        return mb_errorf(MB_ERR_FORMAT, "%llu bytes: shorter than the %d-byte header",
                         (unsigned long long)avail, HEADER_BYTES);
    if (memcmp(b, k_magic, sizeof k_magic) != 0)
        return mb_errorf(MB_ERR_FORMAT, "not a matchbox session state (no MBSTATE magic)");
    decode(b, h);
    if (h->version != 1 && h->version != STATE_VERSION)
        return mb_errorf(MB_ERR_UNSUPPORTED, "session state version %u; this matchbox reads 1..%d",
                         h->version, STATE_VERSION);
    const header want = fingerprint(s->model, s->fwd->kv.type[MB_KV_K], s->fwd->kv.type[MB_KV_V]);
    mb_status st = check_model(h, &want);
    if (st) return st;
    if (h->n_past > (uint32_t)s->fwd->n_ctx)
        return mb_errorf(MB_ERR_CONTEXT_FULL,
                         "the state holds %u positions; the session's context has %d", h->n_past,
                         s->fwd->n_ctx);
    /* Windowed layers must hold the window of the next position. */
    const uint32_t win = h->sliding_window;
    const uint32_t need = h->n_past + 1 > win ? h->n_past + 1 - win : 0;
    if ((h->n_swa == 0 && h->kv_lo != 0) || h->kv_lo > need)
        return mb_errorf(MB_ERR_FORMAT,
                         "windowed layers held from position %u, but the window of position %u "
                         "starts at %u",
                         h->kv_lo, h->n_past, need);
    const uint64_t total = state_bytes(h);
    if (total == 0 || total != h->total)
        return mb_errorf(MB_ERR_FORMAT, "the header gives %llu bytes, its fields %llu",
                         (unsigned long long)h->total, (unsigned long long)total);
    if (avail != total)
        return mb_errorf(MB_ERR_FORMAT, "%llu bytes, but the state takes %llu (%s)",
                         (unsigned long long)avail, (unsigned long long)total,
                         avail < total ? "truncated" : "trailing bytes");
    return MB_OK;
}

/* Layer IL's K or V (WHICH) rows of positions LO..n_past-1 from IN: those
 * the session's cache holds (the last mb_kv_slots of them) into place. */
static int get_rows(source *in, mb_forward_state *f, int which, int il, int lo, int n_past) {
    const size_t row = f->kv.row_bytes[which];
    const int slots = mb_kv_slots(&f->kv, il);
    const int first = n_past - slots > lo ? n_past - slots : lo;
    if (skip(in, (uint64_t)(first - lo) * row)) return -1;
    for (int p = first; p < n_past; p++)
        if (get(in, mb_kv_row(&f->kv, il, which, p), row)) return -1;
    return 0;
}

static mb_status load_state(mb_session *s, source *in, uint64_t avail) {
    /* A paged session's blocks belong to its engine's admission. */
    if (s->kv_pool)
        return mb_errorf(MB_ERR_UNSUPPORTED,
                         "a session of a shared paged KV cache cannot load a state");
    header h;
    mb_status st = read_header(s, in, avail, &h);
    if (st) return st;
    const mb_hparams *hp = &s->model->hp;
    const int n_past = (int)h.n_past;
    mb_token *ids = malloc(((size_t)n_past + 1) * sizeof *ids);
    if (!ids) return mb_errorf(MB_ERR_NO_MEMORY, "out of memory for %d tokens", n_past);
    /* The logits go to scratch first: the session is untouched until the
     * file has proved whole. */
    if (get(in, ids, (size_t)n_past * sizeof *ids) ||
        get(in, s->saved_logits, (size_t)hp->n_vocab * sizeof(float))) {
        free(ids);
        return mb_errorf(MB_ERR_IO, "cannot read the tokens and logits");
    }
    for (int i = 0; i < n_past; i++)
        if (ids[i] < 0 || ids[i] >= hp->n_vocab) {
            const mb_token bad = ids[i];
            free(ids);
            return mb_errorf(MB_ERR_FORMAT, "token %d at position %d is outside the vocabulary",
                             bad, i);
        }
    mb_forward_state *f = s->fwd;
    int failed = 0;
    for (int il = 0; il < hp->n_layer && !failed; il++) {
        const int lo = is_windowed(hp, il) ? (int)h.kv_lo : 0;
        failed =
            get_rows(in, f, MB_KV_K, il, lo, n_past) || get_rows(in, f, MB_KV_V, il, lo, n_past);
    }
    if (failed) {
        /* Some layers hold the new state, others the old: neither is whole. */
        free(ids);
        s->n_past = 0;
        f->kv_max_pos = -1;
        f->kv_lo = 0;
        return mb_errorf(MB_ERR_IO, "reading the KV cache failed; the session was cleared");
    }
    memcpy(s->history, ids, (size_t)n_past * sizeof *ids);
    free(ids);
    memcpy(f->logits, s->saved_logits, (size_t)hp->n_vocab * sizeof(float));
    s->n_past = n_past;
    f->kv_max_pos = n_past - 1;
    f->kv_lo = (int)h.kv_lo;
    return MB_OK;
}

mb_status mb_session_state_read(mb_session *s, const void *buf, size_t len) {
    if (!buf && len) return mb_errorf(MB_ERR_INVALID_ARG, "no buffer");
    source in = {.p = buf, .left = len};
    return load_state(s, &in, len);
}

mb_status mb_session_state_load(mb_session *s, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return mb_errorf(MB_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    mb_status st;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
        st = mb_errorf(MB_ERR_IO, "not a regular file");
    else {
        source in = {.f = f};
        st = load_state(s, &in, (uint64_t)sb.st_size);
    }
    fclose(f);
    return st ? mb_error_prefix(st, "%s", path) : MB_OK;
}
