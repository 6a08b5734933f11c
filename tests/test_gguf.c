/* GGUF writer -> reader round trips, the real files in ../shared/models, and
 * the writer's atomicity. Hostile inputs are in test_gguf_hostile.c. */
#include "test_util.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

#include "format/gguf.h"
#include "tensor/types.h"

static char *tmp_path(const char *name) {
    static char buf[8][512];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/%s", mbt_tmpdir(), name);
    return p;
}

static bool msg_has(const char *word) {
    if (strstr(mb_last_error(), word)) return true;
    fprintf(stderr, "  message lacks '%s': %s\n", word, mb_last_error());
    return false;
}

static int count_temp_files(void) {
    DIR *d = opendir(mbt_tmpdir());
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static bool same_str(mb_str s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* ---- round trip ------------------------------------------------------ */

typedef struct {
    const char *name;
    uint32_t type, n_dims;
    uint64_t ne[4];
    uint8_t *data;
    uint64_t nbytes;
} test_tensor;

static test_tensor tensors[] = {
    {"f32.odd", MB_TYPE_F32, 2, {5, 3, 1, 1}, NULL, 0},
    {"f16.vec", MB_TYPE_F16, 1, {7, 1, 1, 1}, NULL, 0},
    {"q4_0.mat", MB_TYPE_Q4_0, 2, {64, 2, 1, 1}, NULL, 0},
    {"q4_k.mat", MB_TYPE_Q4_K, 2, {256, 3, 1, 1}, NULL, 0},
    {"q8_0.4d", MB_TYPE_Q8_0, 4, {32, 2, 1, 3}, NULL, 0},
    {"bf16.3d", MB_TYPE_BF16, 3, {3, 1, 2, 1}, NULL, 0},
};
enum { N_TENSORS = sizeof tensors / sizeof *tensors };

static void make_tensors(void) {
    uint64_t seed = 7;
    for (int i = 0; i < N_TENSORS; i++) {
        test_tensor *t = &tensors[i];
        uint64_t row;
        CHECK(mb_type_row_bytes(t->type, t->ne[0], &row));
        t->nbytes = row * t->ne[1] * t->ne[2] * t->ne[3];
        t->data = malloc(t->nbytes);
        for (uint64_t b = 0; b < t->nbytes; b++)
            t->data[b] = (uint8_t)mbt_rand_u64(&seed);
    }
}

static mb_gguf_value scalar(uint32_t type) {
    mb_gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    return v;
}

/* [[1, 2, 3], ["x", "yy"], [[0.5]], []] : every kind of element inside an array of arrays. */
static mb_gguf_value nested_value(void) {
    static const uint8_t u32s[] = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
    static const uint8_t half[] = {0, 0, 0, 0, 0, 0, 0xe0, 0x3f}; /* 0.5 as f64 */
    static mb_str strs[] = {{"x", 1}, {"yy", 2}};
    static mb_gguf_value inner[1], items[4];
    inner[0] = scalar(MB_GGUF_ARR);
    inner[0].arr.type = MB_GGUF_F64;
    inner[0].arr.n = 1;
    inner[0].arr.raw = half;
    for (int i = 0; i < 4; i++)
        items[i] = scalar(MB_GGUF_ARR);
    items[0].arr.type = MB_GGUF_U32, items[0].arr.n = 3, items[0].arr.raw = u32s;
    items[1].arr.type = MB_GGUF_STR, items[1].arr.n = 2, items[1].arr.strs = strs;
    items[2].arr.type = MB_GGUF_ARR, items[2].arr.n = 1, items[2].arr.items = inner;
    items[3].arr.type = MB_GGUF_I8, items[3].arr.n = 0;
    mb_gguf_value v = scalar(MB_GGUF_ARR);
    v.arr.type = MB_GGUF_ARR;
    v.arr.n = 4;
    v.arr.items = items;
    return v;
}

static void set_all_values(mb_gguf_writer *w) {
    CHECK_OK(mb_gguf_writer_set_u32(w, "t.replace", 1));
    CHECK_OK(mb_gguf_writer_set_u32(w, "t.u32", 0xdeadbeefu));
    CHECK_OK(mb_gguf_writer_set_i32(w, "t.i32", -123456));
    CHECK_OK(mb_gguf_writer_set_u64(w, "t.u64", (1ULL << 40) + 5));
    CHECK_OK(mb_gguf_writer_set_f32(w, "t.f32", 0.25f));
    CHECK_OK(mb_gguf_writer_set_bool(w, "t.bool", true));
    CHECK_OK(mb_gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo"));
    CHECK_OK(mb_gguf_writer_set_str(w, "t.empty", ""));
    mb_gguf_value v = scalar(MB_GGUF_U8);
    v.u64 = 200;
    CHECK_OK(mb_gguf_writer_set_value(w, "t.u8", &v));
    v = scalar(MB_GGUF_I8), v.i64 = -100;
    CHECK_OK(mb_gguf_writer_set_value(w, "t.i8", &v));
    v = scalar(MB_GGUF_U16), v.u64 = 60000;
    CHECK_OK(mb_gguf_writer_set_value(w, "t.u16", &v));
    v = scalar(MB_GGUF_I16), v.i64 = -30000;
    CHECK_OK(mb_gguf_writer_set_value(w, "t.i16", &v));
    v = scalar(MB_GGUF_I64), v.i64 = -(1LL << 40);
    CHECK_OK(mb_gguf_writer_set_value(w, "t.i64", &v));
    v = scalar(MB_GGUF_F64), v.f64 = 3.141592653589793;
    CHECK_OK(mb_gguf_writer_set_value(w, "t.f64", &v));

    uint8_t u8s[] = {1, 2, 255};
    int8_t i8s[] = {-1, 5};
    uint16_t u16s[] = {65535, 3};
    int16_t i16s[] = {-32768, 7};
    uint32_t u32s[] = {4000000000u, 0};
    int32_t i32s[] = {-2000000000, 9};
    float f32s[] = {1.5f, -2.25f};
    uint8_t bools[] = {1, 0, 1};
    uint64_t u64s[] = {UINT64_MAX - 1};
    int64_t i64s[] = {INT64_MIN, -2};
    double f64s[] = {1e300, -0.125};
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.u8", MB_GGUF_U8, u8s, 3));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.i8", MB_GGUF_I8, i8s, 2));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.u16", MB_GGUF_U16, u16s, 2));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.i16", MB_GGUF_I16, i16s, 2));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.u32", MB_GGUF_U32, u32s, 2));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.i32", MB_GGUF_I32, i32s, 2));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.f32", MB_GGUF_F32, f32s, 2));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.bool", MB_GGUF_BOOL, bools, 3));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.u64", MB_GGUF_U64, u64s, 1));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.i64", MB_GGUF_I64, i64s, 2));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.f64", MB_GGUF_F64, f64s, 2));
    CHECK_OK(mb_gguf_writer_set_arr(w, "a.empty", MB_GGUF_U32, NULL, 0));
    const char *strs[] = {"a", "", "ccc"};
    CHECK_OK(mb_gguf_writer_set_arr_str(w, "a.str", strs, 3));
    mb_gguf_value nv = nested_value();
    CHECK_OK(mb_gguf_writer_set_value(w, "a.nested", &nv));
    CHECK_OK(mb_gguf_writer_set_str(w, "t.replace", "two")); /* replaces the u32 */
    for (int i = 0; i < N_TENSORS; i++) {
        test_tensor *t = &tensors[i];
        CHECK_OK(
            mb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes));
    }
}

static void check_arr(const mb_gguf *g, const char *key, uint32_t type, uint64_t n,
                      const double *want) {
    const mb_gguf_value *a = NULL;
    CHECK_OK(mb_gguf_get_arr(g, key, &a));
    if (!a) return;
    CHECK_MSG(a->arr.type == type && a->arr.n == n, "%s: type %u n %llu", key, a->arr.type,
              (unsigned long long)a->arr.n);
    for (uint64_t i = 0; i < n && i < a->arr.n; i++)
        CHECK_MSG(mb_gguf_arr_f64(a, i) == want[i], "%s[%llu] = %g, want %g", key,
                  (unsigned long long)i, mb_gguf_arr_f64(a, i), want[i]);
}

static void check_all_values(const mb_gguf *g) {
    uint32_t u32 = 0;
    int64_t i64 = 0;
    float f32 = 0;
    bool b = false;
    mb_str s = {0};
    CHECK_EQ_INT(g->version, 3);
    CHECK_EQ_INT(g->alignment, 32);
    CHECK(mb_gguf_find_kv(g, "general.alignment") == NULL); /* only written when set */
    CHECK_EQ_INT(g->n_kv, 28);
    CHECK_OK(mb_gguf_get_u32(g, "t.u32", &u32));
    CHECK(u32 == 0xdeadbeefu);
    CHECK_OK(mb_gguf_get_i64(g, "t.i32", &i64));
    CHECK_EQ_INT(i64, -123456);
    CHECK_OK(mb_gguf_get_i64(g, "t.u64", &i64));
    CHECK_EQ_INT(i64, (1LL << 40) + 5);
    CHECK_OK(mb_gguf_get_f32(g, "t.f32", &f32));
    CHECK(f32 == 0.25f);
    CHECK_OK(mb_gguf_get_bool(g, "t.bool", &b));
    CHECK(b);
    CHECK_OK(mb_gguf_get_str(g, "t.str", &s));
    CHECK(same_str(s, "h\xc3\xa9llo"));
    CHECK_OK(mb_gguf_get_str(g, "t.empty", &s));
    CHECK(s.len == 0);
    CHECK_OK(mb_gguf_get_str(g, "t.replace", &s));
    CHECK(same_str(s, "two"));
    CHECK_OK(mb_gguf_get_u32(g, "t.u8", &u32));
    CHECK_EQ_INT(u32, 200);
    CHECK_OK(mb_gguf_get_i64(g, "t.i8", &i64));
    CHECK_EQ_INT(i64, -100);
    CHECK_OK(mb_gguf_get_u32(g, "t.u16", &u32));
    CHECK_EQ_INT(u32, 60000);
    CHECK_OK(mb_gguf_get_i64(g, "t.i16", &i64));
    CHECK_EQ_INT(i64, -30000);
    CHECK_OK(mb_gguf_get_i64(g, "t.i64", &i64));
    CHECK_EQ_INT(i64, -(1LL << 40));
    const mb_gguf_kv *kv = mb_gguf_find_kv(g, "t.f64");
    CHECK(kv && kv->value.type == MB_GGUF_F64 && kv->value.f64 == 3.141592653589793);

    check_arr(g, "a.u8", MB_GGUF_U8, 3, (double[]){1, 2, 255});
    check_arr(g, "a.i8", MB_GGUF_I8, 2, (double[]){-1, 5});
    check_arr(g, "a.u16", MB_GGUF_U16, 2, (double[]){65535, 3});
    check_arr(g, "a.i16", MB_GGUF_I16, 2, (double[]){-32768, 7});
    check_arr(g, "a.u32", MB_GGUF_U32, 2, (double[]){4000000000.0, 0});
    check_arr(g, "a.i32", MB_GGUF_I32, 2, (double[]){-2000000000.0, 9});
    check_arr(g, "a.f32", MB_GGUF_F32, 2, (double[]){1.5, -2.25});
    check_arr(g, "a.bool", MB_GGUF_BOOL, 3, (double[]){1, 0, 1});
    check_arr(g, "a.u64", MB_GGUF_U64, 1, (double[]){(double)(UINT64_MAX - 1)});
    check_arr(g, "a.i64", MB_GGUF_I64, 2, (double[]){(double)INT64_MIN, -2});
    check_arr(g, "a.f64", MB_GGUF_F64, 2, (double[]){1e300, -0.125});
    check_arr(g, "a.empty", MB_GGUF_U32, 0, NULL);
    const mb_gguf_value *a = NULL;
    CHECK_OK(mb_gguf_get_arr(g, "a.i64", &a));
    CHECK(a && mb_gguf_arr_i64(a, 0) == INT64_MIN);
    CHECK_OK(mb_gguf_get_arr(g, "a.str", &a));
    CHECK(a && a->arr.type == MB_GGUF_STR && a->arr.n == 3 && same_str(a->arr.strs[0], "a") &&
          a->arr.strs[1].len == 0 && same_str(a->arr.strs[2], "ccc"));
    CHECK_OK(mb_gguf_get_arr(g, "a.nested", &a));
    CHECK(a && a->arr.type == MB_GGUF_ARR && a->arr.n == 4);
    if (a && a->arr.n == 4) {
        const mb_gguf_value *it = a->arr.items;
        CHECK(it[0].arr.type == MB_GGUF_U32 && it[0].arr.n == 3 && mb_gguf_arr_i64(&it[0], 2) == 3);
        CHECK(it[1].arr.type == MB_GGUF_STR && it[1].arr.n == 2 &&
              same_str(it[1].arr.strs[1], "yy"));
        CHECK(it[2].arr.type == MB_GGUF_ARR && it[2].arr.n == 1 &&
              mb_gguf_arr_f64(&it[2].arr.items[0], 0) == 0.5);
        CHECK(it[3].arr.type == MB_GGUF_I8 && it[3].arr.n == 0);
    }
}

static void check_tensors(const mb_gguf *g, uint64_t align) {
    CHECK_EQ_INT(g->n_tensors, N_TENSORS);
    CHECK_EQ_INT(g->data_offset % align, 0);
    for (int i = 0; i < N_TENSORS; i++) {
        const test_tensor *want = &tensors[i];
        const mb_gguf_tensor *t = mb_gguf_find_tensor(g, want->name);
        CHECK_MSG(t != NULL, "tensor %s missing", want->name);
        if (!t) continue;
        CHECK(t == &g->tensors[i]); /* written in the order added */
        CHECK_EQ_INT(t->type, want->type);
        CHECK_EQ_INT(t->n_dims, want->n_dims);
        for (int d = 0; d < 4; d++)
            CHECK_EQ_INT(t->ne[d], want->ne[d]);
        CHECK_EQ_INT(t->nbytes, want->nbytes);
        CHECK_EQ_INT(t->offset % align, 0);
        CHECK(t->data == g->map.data + g->data_offset + t->offset);
        CHECK(memcmp(t->data, want->data, want->nbytes) == 0);
    }
}

static void test_round_trip(void) {
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    set_all_values(w);
    const char *path = tmp_path("rt.gguf");
    CHECK_OK(mb_gguf_writer_write(w, path));
    mb_gguf_writer_free(w);
    for (int use_mmap = 0; use_mmap <= 1; use_mmap++) {
        mb_gguf *g = NULL;
        CHECK_OK(mb_gguf_open(path, use_mmap, 0, &g));
        if (!g) continue;
        check_all_values(g);
        check_tensors(g, 32);
        mb_gguf_close(g);
    }

    /* Copying every value and tensor of the file reproduces it byte for byte. */
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    const char *copy = tmp_path("rt-copy.gguf");
    CHECK_OK(mb_gguf_writer_new(&w));
    for (uint64_t i = 0; g && i < g->n_kv; i++)
        CHECK_OK(mb_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value));
    for (uint64_t i = 0; g && i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        CHECK_OK(
            mb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes));
    }
    CHECK_OK(mb_gguf_writer_write(w, copy));
    mb_gguf_writer_free(w);
    mb_gguf_close(g);
    size_t n1 = 0, n2 = 0;
    char *a = mbt_read_file(path, &n1), *b = mbt_read_file(copy, &n2);
    CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0);
    free(a);
    free(b);
}

static void test_explicit_alignment(void) {
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    CHECK_OK(mb_gguf_writer_set_u32(w, "general.alignment", 64));
    for (int i = 0; i < N_TENSORS; i++) {
        test_tensor *t = &tensors[i];
        CHECK_OK(
            mb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes));
    }
    const char *path = tmp_path("align64.gguf");
    CHECK_OK(mb_gguf_writer_write(w, path));
    mb_gguf_writer_free(w);
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    if (g) {
        uint32_t a = 0;
        CHECK_OK(mb_gguf_get_u32(g, "general.alignment", &a));
        CHECK_EQ_INT(a, 64);
        CHECK_EQ_INT(g->alignment, 64);
        check_tensors(g, 64);
        mb_gguf_close(g);
    }
}

static void test_getter_errors(void) {
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    set_all_values(w);
    const char *path = tmp_path("getters.gguf");
    CHECK_OK(mb_gguf_writer_write(w, path));
    mb_gguf_writer_free(w);
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    if (!g) return;
    uint32_t u32;
    float f;
    bool b;
    mb_str s;
    const mb_gguf_value *a;
    CHECK_EQ_INT(mb_gguf_get_u32(g, "no.such.key", &u32), MB_ERR_INVALID_ARG);
    CHECK(msg_has("no.such.key") && msg_has("not found"));
    CHECK_EQ_INT(mb_gguf_get_u32(g, "t.i32", &u32), MB_ERR_FORMAT); /* negative */
    CHECK(msg_has("t.i32"));
    CHECK_EQ_INT(mb_gguf_get_u32(g, "t.u64", &u32), MB_ERR_FORMAT); /* > 2^32 */
    CHECK_EQ_INT(mb_gguf_get_u32(g, "t.str", &u32), MB_ERR_FORMAT);
    CHECK(msg_has("t.str") && msg_has("str"));
    CHECK_EQ_INT(mb_gguf_get_f32(g, "t.u32", &f), MB_ERR_FORMAT);
    CHECK_EQ_INT(mb_gguf_get_bool(g, "t.u8", &b), MB_ERR_FORMAT);
    CHECK_EQ_INT(mb_gguf_get_str(g, "a.str", &s), MB_ERR_FORMAT);
    CHECK_EQ_INT(mb_gguf_get_arr(g, "t.str", &a), MB_ERR_FORMAT);
    CHECK_OK(mb_gguf_get_arr(g, "a.u8", &a));
    CHECK_EQ_INT(mb_gguf_arr_i64(a, 3), 0); /* out of range reads as 0 */
    mb_gguf_close(g);
}

/* ---- atomic writes --------------------------------------------------- */

static void test_write_into_missing_dir(void) {
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    CHECK_OK(mb_gguf_writer_set_str(w, "general.name", "x"));
    const char *path = tmp_path("no-such-dir/out.gguf");
    CHECK_EQ_INT(mb_gguf_writer_write(w, path), MB_ERR_IO);
    CHECK(msg_has("no-such-dir/out.gguf") && msg_has("No such file"));
    mb_gguf_writer_free(w);
    CHECK_EQ_INT(count_temp_files(), 0);
}

/* Write a small good file at PATH; return its bytes. */
static char *write_good_file(const char *path, size_t *len) {
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    CHECK_OK(mb_gguf_writer_set_str(w, "general.name", "the original"));
    CHECK_OK(mb_gguf_writer_write(w, path));
    mb_gguf_writer_free(w);
    return mbt_read_file(path, len);
}

static void test_failed_write_keeps_old_file(void) {
    const char *path = tmp_path("keep.gguf");
    size_t len0 = 0, len1 = 0;
    char *before = write_good_file(path, &len0);

    /* A tensor whose data size does not match its shape is refused up front. */
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    static uint8_t data[4096];
    uint64_t ne[1] = {1024};
    CHECK_EQ_INT(
        mb_gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", MB_TYPE_F32, 1, ne, data, 4000),
        MB_ERR_INVALID_ARG);
    CHECK(msg_has("blk.0.ffn_up.weight") && msg_has("4000") && msg_has("4096"));

    /* A write that fails half-way (the file size limit stands in for a full
     * disk) leaves the old file and no temp file. */
    CHECK_OK(mb_gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", MB_TYPE_F32, 1, ne, data, 4096));
    struct rlimit old_lim, lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    lim = old_lim;
    lim.rlim_cur = 1024;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    mb_status st = mb_gguf_writer_write(w, path);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, old_sig);
    CHECK_EQ_INT(st, MB_ERR_IO);
    CHECK(msg_has("keep.gguf") && msg_has("File too large"));
    char *after = mbt_read_file(path, &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0);
    CHECK_EQ_INT(count_temp_files(), 0);

    /* The same writer succeeds once there is room. */
    CHECK_OK(mb_gguf_writer_write(w, path));
    mb_gguf_writer_free(w);
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    CHECK(g && g->n_tensors == 1 && g->tensors[0].nbytes == 4096);
    mb_gguf_close(g);
    free(before);
    free(after);
}

static void test_split_files_refused(void) {
    const char *good = tmp_path("split-src.gguf");
    size_t len = 0;
    char *bytes = write_good_file(good, &len);
    const char *split = tmp_path("model-00001-of-00003.gguf");
    FILE *f = fopen(split, "wb");
    CHECK(f && fwrite(bytes, 1, len, f) == len);
    if (f) fclose(f);
    free(bytes);
    mb_gguf *g = NULL;
    CHECK_EQ_INT(mb_gguf_open(split, 1, 0, &g), MB_ERR_UNSUPPORTED);
    CHECK(msg_has("split GGUF files are not supported yet; merge them first") &&
          msg_has("model-00001-of-00003.gguf"));

    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    CHECK_OK(mb_gguf_writer_set_u32(w, "split.count", 2));
    CHECK_OK(mb_gguf_writer_write(w, good));
    mb_gguf_writer_free(w);
    CHECK_EQ_INT(mb_gguf_open(good, 1, 0, &g), MB_ERR_UNSUPPORTED);
    CHECK(msg_has("split-src.gguf") && msg_has("merge them first"));
    CHECK_EQ_INT(mb_gguf_open(tmp_path("absent.gguf"), 1, 0, &g), MB_ERR_IO);
    CHECK(msg_has("absent.gguf"));
}

/* ---- real files ------------------------------------------------------ */

static mb_gguf *open_shared(const char *rel) {
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(mbt_shared_path_or_skip(rel), 1, 0, &g));
    return g;
}

static uint64_t arr_len(const mb_gguf *g, const char *key) {
    const mb_gguf_value *a = NULL;
    return mb_gguf_get_arr(g, key, &a) == MB_OK ? a->arr.n : 0;
}

/* Writing back every key and tensor of a llama.cpp-made file reproduces it
 * byte for byte: same layout, same padding. */
static void check_rewrite_identical(const mb_gguf *g, const char *name) {
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    for (uint64_t i = 0; i < g->n_kv; i++)
        CHECK_OK(mb_gguf_writer_set_value(w, g->kv[i].key, &g->kv[i].value));
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        CHECK_OK(
            mb_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes));
    }
    const char *path = tmp_path(name);
    CHECK_OK(mb_gguf_writer_write(w, path));
    mb_gguf_writer_free(w);
    size_t n = 0;
    char *bytes = mbt_read_file(path, &n);
    CHECK_MSG(bytes && n == g->map.size && memcmp(bytes, g->map.data, n) == 0,
              "%s: rewrite differs (%zu vs %llu bytes)", name, n, (unsigned long long)g->map.size);
    free(bytes);
    remove(path);
}

static void test_stories260k(void) {
    mb_gguf *g = open_shared("models/stories260K.gguf");
    if (!g) return;
    CHECK_EQ_INT(g->version, 3);
    CHECK_EQ_INT(g->n_tensors, 48);
    CHECK_EQ_INT(g->alignment, 32);
    CHECK(mb_gguf_find_kv(g, "general.alignment") == NULL);
    for (uint64_t i = 0; i < g->n_tensors; i++)
        CHECK_EQ_INT(g->tensors[i].type, MB_TYPE_F32);
    mb_str arch;
    CHECK_OK(mb_gguf_get_str(g, "general.architecture", &arch));
    CHECK(same_str(arch, "llama"));
    uint32_t n_layer = 0, sep = 0;
    CHECK_OK(mb_gguf_get_u32(g, "llama.block_count", &n_layer));
    CHECK_EQ_INT(n_layer, 5);
    CHECK_OK(mb_gguf_get_u32(g, "tokenizer.ggml.seperator_token_id", &sep));
    CHECK(sep == 0xffffffffu);
    float eps = 0;
    CHECK_OK(mb_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps));
    CHECK_NEAR(eps, 1e-5, 1e-9);
    CHECK_EQ_INT(arr_len(g, "tokenizer.ggml.tokens"), 512);
    CHECK_EQ_INT(arr_len(g, "tokenizer.ggml.scores"), 512);
    const mb_gguf_tensor *emb = mb_gguf_find_tensor(g, "token_embd.weight");
    const mb_gguf_tensor *out = mb_gguf_find_tensor(g, "output.weight");
    CHECK(emb && emb->ne[0] == 64 && emb->ne[1] == 512 && emb->nbytes == 64 * 512 * 4);
    CHECK(emb && out && memcmp(emb->data, out->data, emb->nbytes) == 0);
    check_rewrite_identical(g, "stories-copy.gguf");
    mb_gguf_close(g);
}

static void test_llama_125m_q4_k_m(void) {
    mb_gguf *g = open_shared("models/llama-125m-Q4_K_M.gguf");
    if (!g) return;
    uint32_t a = 0;
    CHECK_OK(mb_gguf_get_u32(g, "general.alignment", &a));
    CHECK_EQ_INT(a, 32);
    CHECK_EQ_INT(g->n_tensors, 111);
    int n_q4k = 0, n_q6k = 0;
    uint64_t end = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        n_q4k += g->tensors[i].type == MB_TYPE_Q4_K;
        n_q6k += g->tensors[i].type == MB_TYPE_Q6_K;
        uint64_t e = g->data_offset + g->tensors[i].offset + g->tensors[i].nbytes;
        if (e > end) end = e;
    }
    CHECK(n_q4k > 0 && n_q6k > 0);
    CHECK(end <= g->map.size && g->map.size - end < 32);
    const mb_gguf_tensor *t = mb_gguf_find_tensor(g, "output.weight");
    CHECK(t && t->type == MB_TYPE_Q6_K && t->ne[0] == 768 && t->ne[1] == 32000);
    mb_gguf_close(g);
}

static void test_vocab_only(void) {
    mb_gguf *g = open_shared("models/ggml-vocab-llama-spm.gguf");
    if (g) {
        CHECK_EQ_INT(g->n_tensors, 0);
        CHECK(g->data_offset > g->map.size); /* ends before its aligned data start */
        CHECK_EQ_INT(arr_len(g, "tokenizer.ggml.tokens"), 32000);
        bool add_bos = false;
        CHECK_OK(mb_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos));
        CHECK(add_bos);
        mb_gguf_close(g);
    }
    g = open_shared("models/ggml-vocab-gpt-2.gguf");
    if (g) {
        CHECK_EQ_INT(g->n_tensors, 0);
        CHECK_EQ_INT(arr_len(g, "tokenizer.ggml.tokens"), 50257);
        CHECK_EQ_INT(arr_len(g, "tokenizer.ggml.merges"), 50000);
        mb_str pre;
        CHECK_OK(mb_gguf_get_str(g, "tokenizer.ggml.pre", &pre));
        CHECK(same_str(pre, "gpt-2"));
        mb_gguf_close(g);
    }
}

static void test_tiny_random(void) {
    mb_gguf *g = open_shared("models/llama-2-tiny-random.gguf");
    if (!g) return;
    CHECK_EQ_INT(g->n_tensors, 12);
    int n_f16 = 0, n_f32 = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        n_f16 += g->tensors[i].type == MB_TYPE_F16;
        n_f32 += g->tensors[i].type == MB_TYPE_F32;
    }
    CHECK_EQ_INT(n_f16, 9);
    CHECK_EQ_INT(n_f32, 3);
    CHECK_EQ_INT(arr_len(g, "tokenizer.ggml.tokens"), 32000);
    check_rewrite_identical(g, "tiny-copy.gguf");
    mb_gguf_close(g);
}

static void remove_tmpdir(void) {
    mbt_system("rm -rf '%s'", mbt_tmpdir());
}

int main(void) {
    atexit(remove_tmpdir);
    make_tensors();
    test_round_trip();
    test_explicit_alignment();
    test_getter_errors();
    test_write_into_missing_dir();
    test_failed_write_keeps_old_file();
    test_split_files_refused();
    for (int i = 0; i < N_TENSORS; i++)
        free(tensors[i].data);
    /* The rest skips (exit 77) without ../shared: report failures so far first. */
    if (mbt_failed) return mbt_finish();
    test_stories260k();
    test_llama_125m_q4_k_m();
    test_vocab_only();
    test_tiny_random();
    return mbt_finish();
}
