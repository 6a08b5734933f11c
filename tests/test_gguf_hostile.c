/* The GGUF reader on hostile input: every file here is built byte by byte in
 * the test, broken in one way, and must fail with a message that names the
 * problem (and the key or tensor), never crash. Run under ASan+UBSan. The
 * writer refuses the same things (bad alignment, depth, sizes) up front. */
#include "test_util.h"

#include "core/error.h"
#include "format/gguf.h"
#include "tensor/types.h"

/* ---- a byte builder -------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void b_bytes(buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void b_u8(buf *b, uint8_t v) {
    b_bytes(b, &v, 1);
}
static void b_u32(buf *b, uint32_t v) {
    for (int i = 0; i < 4; i++)
        b_u8(b, (uint8_t)(v >> (8 * i)));
}
static void b_u64(buf *b, uint64_t v) {
    for (int i = 0; i < 8; i++)
        b_u8(b, (uint8_t)(v >> (8 * i)));
}
static void b_str(buf *b, const char *s) {
    b_u64(b, strlen(s));
    b_bytes(b, s, strlen(s));
}
static void b_zeros(buf *b, size_t n) {
    while (n--)
        b_u8(b, 0);
}
static void b_pad(buf *b, size_t align) {
    b_zeros(b, (align - b->n % align) % align);
}
static void b_header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b_bytes(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void b_kv_u32(buf *b, const char *key, uint32_t v) {
    b_str(b, key);
    b_u32(b, MB_GGUF_U32);
    b_u32(b, v);
}
static void b_kv_str(buf *b, const char *key, const char *v) {
    b_str(b, key);
    b_u32(b, MB_GGUF_STR);
    b_str(b, v);
}
static void b_tensor(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                     uint64_t offset) {
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}

/* Parse a private copy of exactly LEN bytes, so ASan sees any read past it. */
static mb_status parse_copy(const uint8_t *data, size_t len, mb_gguf **out) {
    uint8_t *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, data, len);
    mb_status st = mb_gguf_parse(copy, len, "hostile.gguf", out);
    if (st == MB_OK) {
        /* The reader points into the buffer: keep it alive until closed. */
        mb_gguf_close(*out);
        *out = NULL;
    }
    free(copy);
    return st;
}

/* Expect failure with STATUS and a message containing each of WORDS. */
#define EXPECT_FAIL(b, status, ...)                                                                \
    do {                                                                                           \
        mb_gguf *g_ = NULL;                                                                        \
        mb_status st_ = parse_copy((b)->p, (b)->n, &g_);                                           \
        CHECK_MSG(st_ == (status), "got %s (%s)", mb_status_str(st_), mb_last_error());            \
        if (getenv("MBT_VERBOSE")) printf("%s: %s\n", mb_status_str(st_), mb_last_error());        \
        const char *words_[] = {__VA_ARGS__};                                                      \
        for (size_t w_ = 0; w_ < sizeof words_ / sizeof *words_; w_++)                             \
            CHECK_MSG(strstr(mb_last_error(), words_[w_]), "'%s' not in: %s", words_[w_],          \
                      mb_last_error());                                                            \
        free((b)->p);                                                                              \
    } while (0)

/* A small valid file: 4 keys (one a nested array), two tensors, the last
 * tensor ending exactly at the end of the file. */
static buf small_file(void) {
    buf b = {0};
    b_header(&b, 3, 2, 4);
    b_kv_str(&b, "general.architecture", "llama");
    b_str(&b, "x.bytes");
    b_u32(&b, MB_GGUF_ARR);
    b_u32(&b, MB_GGUF_U8);
    b_u64(&b, 3);
    b_bytes(&b, "\x01\x02\x03", 3);
    b_str(&b, "x.nested"); /* [[7, 8], []] as u32 arrays */
    b_u32(&b, MB_GGUF_ARR);
    b_u32(&b, MB_GGUF_ARR);
    b_u64(&b, 2);
    b_u32(&b, MB_GGUF_U32);
    b_u64(&b, 2);
    b_u32(&b, 7);
    b_u32(&b, 8);
    b_u32(&b, MB_GGUF_U32);
    b_u64(&b, 0);
    b_kv_u32(&b, "x.count", 42);
    uint64_t ne_a[2] = {4, 2}, ne_b[1] = {8};
    b_tensor(&b, "a.weight", 2, ne_a, MB_TYPE_F32, 0);
    b_tensor(&b, "b.weight", 1, ne_b, MB_TYPE_F16, 32);
    b_pad(&b, 32);
    for (int i = 0; i < 32 + 16; i++)
        b_u8(&b, (uint8_t)i);
    return b;
}

static void test_small_file_is_valid(void) {
    buf b = small_file();
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_parse(b.p, b.n, "small.gguf", &g));
    if (g) {
        CHECK_EQ_INT(g->n_kv, 4);
        CHECK_EQ_INT(g->n_tensors, 2);
        const mb_gguf_value *nested = NULL;
        CHECK_OK(mb_gguf_get_arr(g, "x.nested", &nested));
        CHECK(nested && nested->arr.n == 2 && nested->arr.items[0].arr.n == 2);
        CHECK(nested && mb_gguf_arr_i64(&nested->arr.items[0], 1) == 8);
        const mb_gguf_tensor *t = mb_gguf_find_tensor(g, "b.weight");
        CHECK(t && t->nbytes == 16 && t->data == b.p + b.n - 16);
        mb_gguf_close(g);
    }
    free(b.p);
}

/* Every proper prefix is a truncated file and must fail with a message. */
static void test_truncated_at_every_byte(void) {
    buf b = small_file();
    int clean = 1;
    for (size_t len = 0; len < b.n; len++) {
        mb_gguf *g = NULL;
        mb_error_clear();
        mb_status st = parse_copy(b.p, len, &g);
        if (st != MB_ERR_FORMAT || mb_last_error()[0] == '\0') {
            fprintf(stderr, "prefix of %zu bytes: %s (%s)\n", len, mb_status_str(st),
                    mb_last_error());
            clean = 0;
        }
    }
    CHECK(clean);
    mb_gguf *g = NULL;
    CHECK_OK(parse_copy(b.p, b.n, &g));
    free(b.p);
}

static void test_header(void) {
    buf b = {0};
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "too small");
    b_bytes(&b, "GGML\x03\0\0\0", 8);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "not a GGUF file");
    b = (buf){0};
    b_header(&b, 1, 0, 0);
    EXPECT_FAIL(&b, MB_ERR_UNSUPPORTED, "version 1");
    b = (buf){0};
    b_header(&b, 4, 0, 0);
    EXPECT_FAIL(&b, MB_ERR_UNSUPPORTED, "version 4");
    b = (buf){0};
    b_header(&b, 0x03000000, 0, 0);
    EXPECT_FAIL(&b, MB_ERR_UNSUPPORTED, "big-endian");
    /* Version 2 has the same layout as 3 and is accepted. */
    b = (buf){0};
    b_header(&b, 2, 0, 1);
    b_kv_u32(&b, "a", 1);
    mb_gguf *g = NULL;
    CHECK_OK(parse_copy(b.p, b.n, &g));
    free(b.p);
}

static void test_huge_counts(void) {
    buf b = {0};
    b_header(&b, 3, 0, 1ULL << 63);
    b_kv_u32(&b, "a", 1);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "key-value count 9223372036854775808");
    b = (buf){0};
    b_header(&b, 3, 1ULL << 63, 1);
    b_kv_u32(&b, "a", 1);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "tensor count");
    b = (buf){0};
    b_header(&b, 3, UINT64_MAX, UINT64_MAX);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "count");
    /* Many keys claimed, few present: each missing key is a truncation. */
    b = (buf){0};
    b_header(&b, 3, 0, 3);
    b_kv_u32(&b, "a", 1);
    b_zeros(&b, 30);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "key 1 of 3");
}

static void test_huge_lengths(void) {
    buf b = {0};
    b_header(&b, 3, 0, 1);
    b_u64(&b, 1ULL << 63); /* key length */
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "key length 9223372036854775808");
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.name");
    b_u32(&b, MB_GGUF_STR);
    b_u64(&b, UINT64_MAX);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "general.name", "length 18446744073709551615");
    /* n * 4 overflows u64 */
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "tokenizer.ggml.scores");
    b_u32(&b, MB_GGUF_ARR);
    b_u32(&b, MB_GGUF_F32);
    b_u64(&b, 1ULL << 62);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "tokenizer.ggml.scores", "4611686018427387904");
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "tokenizer.ggml.tokens");
    b_u32(&b, MB_GGUF_ARR);
    b_u32(&b, MB_GGUF_STR);
    b_u64(&b, 1ULL << 61);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "tokenizer.ggml.tokens", "strings");
    /* One string in the middle of an array is too long. */
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "tokenizer.ggml.tokens");
    b_u32(&b, MB_GGUF_ARR);
    b_u32(&b, MB_GGUF_STR);
    b_u64(&b, 3);
    b_str(&b, "a");
    b_u64(&b, 1000);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "tokenizer.ggml.tokens", "string 1 of 3");
}

static void test_bad_values(void) {
    buf b = {0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "x.weird");
    b_u32(&b, 13);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "x.weird", "unknown value type 13");
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "x.arr");
    b_u32(&b, MB_GGUF_ARR);
    b_u32(&b, 99);
    b_u64(&b, 1);
    b_zeros(&b, 16);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "x.arr", "element type 99");
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "x.flag");
    b_u32(&b, MB_GGUF_BOOL);
    b_u8(&b, 2);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "x.flag", "bool");
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_kv_u32(&b, "", 1);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "empty key");
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_u64(&b, 3);
    b_bytes(&b, "a\0b", 3);
    b_u32(&b, MB_GGUF_U8);
    b_u8(&b, 0);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "NUL");
}

static void test_duplicates(void) {
    buf b = {0};
    b_header(&b, 3, 0, 3);
    b_kv_u32(&b, "llama.block_count", 1);
    b_kv_u32(&b, "llama.context_length", 1);
    b_kv_u32(&b, "llama.block_count", 2);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "duplicate key", "llama.block_count");
    b = (buf){0};
    uint64_t ne[1] = {8};
    b_header(&b, 3, 2, 0);
    b_tensor(&b, "blk.0.attn_q.weight", 1, ne, MB_TYPE_F32, 0);
    b_tensor(&b, "blk.0.attn_q.weight", 1, ne, MB_TYPE_F32, 32);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "duplicate tensor name", "blk.0.attn_q.weight");
}

/* A file of one tensor NAME (TYPE, shape NE) at OFFSET, with DATA bytes after
 * the aligned data start; ALIGN_KEY 0 means no general.alignment key. */
static buf one_tensor(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset,
                      uint32_t align_key, size_t data) {
    buf b = {0};
    b_header(&b, 3, 1, align_key ? 1 : 0);
    if (align_key) b_kv_u32(&b, "general.alignment", align_key);
    b_tensor(&b, "blk.3.attn_q.weight", n_dims, ne, type, offset);
    b_pad(&b, align_key ? align_key : 32);
    b_zeros(&b, data);
    return b;
}

static void test_bad_tensors(void) {
    uint64_t ne[4] = {1ULL << 32, 1ULL << 32, 1ULL << 32, 1};
    buf b = one_tensor(3, ne, MB_TYPE_F32, 0, 0, 64);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "overflows");
    uint64_t ne2[2] = {1ULL << 62, 4}; /* elements fit, bytes (x4) would not */
    b = one_tensor(1, ne2, MB_TYPE_F32, 0, 0, 64);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "overflows");
    uint64_t ne3[2] = {8, 0};
    b = one_tensor(2, ne3, MB_TYPE_F32, 0, 0, 64);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "dimension 1 is 0");
    uint64_t ne4[5] = {1, 1, 1, 1, 1};
    b = one_tensor(5, ne4, MB_TYPE_F32, 0, 0, 64);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "n_dims 5");
    b = one_tensor(0, ne4, MB_TYPE_F32, 0, 0, 64);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "n_dims 0");
    uint64_t ne5[1] = {32};
    b = one_tensor(1, ne5, 42, 0, 0, 64);
    EXPECT_FAIL(&b, MB_ERR_UNSUPPORTED, "blk.3.attn_q.weight", "type id 42");
    b = one_tensor(1, ne5, 4, 0, 0, 64); /* Q4_2: removed from the format */
    EXPECT_FAIL(&b, MB_ERR_UNSUPPORTED, "type id 4");
    uint64_t ne6[1] = {33};
    b = one_tensor(1, ne6, MB_TYPE_Q4_0, 0, 0, 64);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "block size 32");
}

static void test_bad_offsets(void) {
    uint64_t ne[1] = {1024}; /* 4096 bytes of F32 */
    buf b = one_tensor(1, ne, MB_TYPE_F32, 0, 0, 4000);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "+ 4096 bytes exceeds file size");
    b = one_tensor(1, ne, MB_TYPE_F32, 1ULL << 40, 0, 4096);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "exceeds file size");
    b = one_tensor(1, ne, MB_TYPE_F32, UINT64_MAX - 31, 0, 4096);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "overflows");
    b = one_tensor(1, ne, MB_TYPE_F32, 4, 0, 8192);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "blk.3.attn_q.weight", "not a multiple of the alignment 32");
    b = one_tensor(1, ne, MB_TYPE_F32, 32, 64, 8192);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "not a multiple of the alignment 64");
    b = one_tensor(1, ne, MB_TYPE_F32, 64, 64, 8192);
    mb_gguf *g = NULL;
    CHECK_OK(parse_copy(b.p, b.n, &g));
    free(b.p);
    /* general.alignment 1 lets data start anywhere: of four consecutive
     * offsets, the three that would put F32 values off a 4-byte boundary
     * (read through float pointers: undefined behaviour) are refused. */
    int refused = 0;
    for (uint64_t off = 0; off < 4; off++) {
        b = one_tensor(1, ne, MB_TYPE_F32, off, 1, 8192);
        mb_status st = parse_copy(b.p, b.n, &g);
        refused += st == MB_ERR_FORMAT && strstr(mb_last_error(), "not aligned to the 4 bytes");
        free(b.p);
    }
    CHECK_EQ_INT(refused, 3);
}

static void test_bad_alignment(void) {
    buf b;
    uint32_t bad[] = {0, 3, 48};
    for (int i = 0; i < 3; i++) {
        b = (buf){0};
        b_header(&b, 3, 0, 1);
        b_kv_u32(&b, "general.alignment", bad[i]);
        EXPECT_FAIL(&b, MB_ERR_FORMAT, "general.alignment", "power of two");
    }
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, MB_GGUF_U64);
    b_u64(&b, 32);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "general.alignment", "expected u32");
}

/* An array of arrays DEPTH levels deep (the outermost counts as 1). */
static buf nested(int depth) {
    buf b = {0};
    b_header(&b, 3, 0, 1);
    b_str(&b, "x.deep");
    b_u32(&b, MB_GGUF_ARR);
    for (int d = 1; d < depth; d++) {
        b_u32(&b, MB_GGUF_ARR);
        b_u64(&b, 1);
    }
    b_u32(&b, MB_GGUF_U8);
    b_u64(&b, 1);
    b_u8(&b, 5);
    return b;
}

static void test_depth_bomb(void) {
    buf b = nested(8);
    mb_gguf *g = NULL;
    CHECK_OK(parse_copy(b.p, b.n, &g));
    free(b.p);
    b = nested(9);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "x.deep", "nested more than 8 deep");
    b = nested(100000);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "x.deep", "nested");
}

static void test_split_key(void) {
    buf b = {0};
    b_header(&b, 3, 0, 2);
    b_kv_str(&b, "general.architecture", "llama");
    b_str(&b, "split.count");
    b_u32(&b, MB_GGUF_U16);
    b_u8(&b, 3);
    b_u8(&b, 0);
    EXPECT_FAIL(&b, MB_ERR_UNSUPPORTED, "split GGUF files are not supported yet; merge them first");
    b = (buf){0};
    b_header(&b, 3, 0, 1);
    b_kv_u32(&b, "split.count", 1); /* one part: an ordinary file */
    mb_gguf *g = NULL;
    CHECK_OK(parse_copy(b.p, b.n, &g));
    free(b.p);
}

/* A file that ends before its aligned data start is fine with no tensors. */
static void test_vocab_only_short_end(void) {
    buf b = {0};
    b_header(&b, 3, 0, 1);
    b_kv_str(&b, "tokenizer.ggml.model", "gpt2x");
    CHECK(b.n % 32 != 0);
    mb_gguf *g = NULL;
    uint8_t *copy = malloc(b.n);
    memcpy(copy, b.p, b.n);
    CHECK_OK(mb_gguf_parse(copy, b.n, "vocab.gguf", &g));
    if (g) {
        CHECK(g->data_offset > b.n);
        mb_gguf_close(g);
    }
    free(copy);
    free(b.p);
}

/* ---- the writer refuses what the reader would refuse ------------------ */

static bool msg_has(const char *word) {
    if (strstr(mb_last_error(), word)) return true;
    fprintf(stderr, "  message lacks '%s': %s\n", word, mb_last_error());
    return false;
}

static mb_gguf_value scalar(uint32_t type) {
    mb_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    return v;
}

static void test_writer_rejects(void) {
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    CHECK_EQ_INT(mb_gguf_writer_set_u32(w, "general.alignment", 3), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(mb_gguf_writer_set_u32(w, "general.alignment", 0), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(mb_gguf_writer_set_u64(w, "general.alignment", 32), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(mb_gguf_writer_set_u32(w, "", 1), MB_ERR_INVALID_ARG);
    CHECK_EQ_INT(mb_gguf_writer_set_arr(w, "x", MB_GGUF_STR, "a", 1), MB_ERR_INVALID_ARG);
    uint8_t two = 2;
    CHECK_EQ_INT(mb_gguf_writer_set_arr(w, "x", MB_GGUF_BOOL, &two, 1), MB_ERR_INVALID_ARG);
    mb_gguf_value v = scalar(MB_GGUF_U8);
    v.u64 = 300;
    CHECK_EQ_INT(mb_gguf_writer_set_value(w, "x", &v), MB_ERR_INVALID_ARG);
    CHECK(msg_has("300"));
    /* Nine levels of arrays: one more than the reader accepts. */
    mb_gguf_value levels[9];
    for (int i = 0; i < 9; i++) {
        levels[i] = scalar(MB_GGUF_ARR);
        levels[i].arr.type = i == 8 ? MB_GGUF_U8 : MB_GGUF_ARR;
        levels[i].arr.n = i == 8 ? 0 : 1;
        levels[i].arr.items = i == 8 ? NULL : &levels[i + 1];
    }
    CHECK_EQ_INT(mb_gguf_writer_set_value(w, "x.deep", &levels[0]), MB_ERR_INVALID_ARG);
    CHECK(msg_has("x.deep") && msg_has("nested"));
    CHECK_OK(mb_gguf_writer_set_value(w, "x.ok", &levels[1]));
    float data[8] = {0};
    uint64_t ne[2] = {4, 2};
    CHECK_OK(mb_gguf_writer_add_tensor(w, "w", MB_TYPE_F32, 2, ne, data, sizeof data));
    CHECK_EQ_INT(mb_gguf_writer_add_tensor(w, "w", MB_TYPE_F32, 2, ne, data, sizeof data),
                 MB_ERR_INVALID_ARG);
    CHECK(msg_has("'w'"));
    CHECK_EQ_INT(mb_gguf_writer_add_tensor(w, "v", 42, 2, ne, data, sizeof data),
                 MB_ERR_INVALID_ARG);
    CHECK(msg_has("42"));
    uint64_t ne_q[1] = {31};
    CHECK_EQ_INT(mb_gguf_writer_add_tensor(w, "q", MB_TYPE_Q8_0, 1, ne_q, data, 18),
                 MB_ERR_INVALID_ARG);
    CHECK(msg_has("block size"));
    mb_gguf_writer_free(w);
}

/* A sparse tensor (SQ4, file id 0x4D420000): blocks marking at most 128
 * non-zeros load; one marking 129 is refused naming the tensor and the
 * block; ggml's ids 31..33, which matchbox uses in memory, are unknown in a
 * file. */
static buf sparse_file(uint32_t file_type, int bad_block) {
    buf b = {0};
    b_header(&b, 3, 1, 1);
    b_kv_str(&b, "general.architecture", "llama");
    uint64_t ne[2] = {256, 2};
    b_tensor(&b, "s.weight", 2, ne, file_type, 0);
    b_pad(&b, 32);
    for (int blk = 0; blk < 2; blk++) {
        uint8_t block[104] = {0};
        memset(block, 0x55, 32);               /* 128 set: full, valid */
        if (blk == bad_block) block[0] = 0xFF; /* 132 set */
        b_bytes(&b, block, sizeof block);
    }
    return b;
}

/* SQ4_24 (file id 0x4D420002, 96-byte blocks): pair codes all 0 (weights
 * 0 and 1 of every group), or, in BAD_BLOCK, pair 9's code 48 (past the 36
 * choices). */
static buf sq4_24_file(int bad_block) {
    buf b = {0};
    b_header(&b, 3, 1, 1);
    b_kv_str(&b, "general.architecture", "llama");
    uint64_t ne[2] = {256, 2};
    b_tensor(&b, "t.weight", 2, ne, 0x4D420002u, 0);
    b_pad(&b, 32);
    for (int blk = 0; blk < 2; blk++) {
        uint8_t block[96] = {0};
        if (blk == bad_block) block[8 + 6 + 1] = 0xFC; /* bits 6..11 of word 1 */
        b_bytes(&b, block, sizeof block);
    }
    return b;
}

static void test_sparse_blocks(void) {
    buf b = sparse_file(0x4D420000u, -1);
    mb_gguf *g = NULL;
    CHECK_OK(parse_copy(b.p, b.n, &g));
    free(b.p);
    b = sparse_file(0x4D420000u, 1);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "s.weight", "sparse block 1", "132", "128");
    b = sparse_file(MB_TYPE_SQ4, -1); /* an internal id in a file */
    EXPECT_FAIL(&b, MB_ERR_UNSUPPORTED, "s.weight", "unknown tensor type id 31");
    b = sq4_24_file(-1);
    CHECK_OK(parse_copy(b.p, b.n, &g));
    free(b.p);
    b = sq4_24_file(1);
    EXPECT_FAIL(&b, MB_ERR_FORMAT, "t.weight", "sparse block 1", "2:4 index code");
}

int main(void) {
    test_small_file_is_valid();
    test_truncated_at_every_byte();
    test_header();
    test_huge_counts();
    test_huge_lengths();
    test_bad_values();
    test_duplicates();
    test_bad_tensors();
    test_bad_offsets();
    test_bad_alignment();
    test_depth_bomb();
    test_split_key();
    test_vocab_only_short_end();
    test_writer_rejects();
    test_sparse_blocks();
    return mbt_finish();
}
