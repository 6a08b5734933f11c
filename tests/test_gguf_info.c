/* The public read-only GGUF API (include/matchbox/gguf.h): a file written
 * here with every kind of value and two tensors reads back through the
 * accessors an app uses, and misuse (wrong kinds, indexes past the end, a
 * missing file) gives the documented neutral answers. */
#include "test_util.h"

#include "format/gguf.h"
#include "matchbox/gguf.h"

static const char *write_file(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/info.gguf", mbt_tmpdir());
    mb_gguf_writer *w = NULL;
    static const uint32_t counts[3] = {7, 8, 4000000000u};
    static const char *const names[2] = {"alpha", "be\nta"};
    static const uint8_t inner_a[2] = {1, 2}, inner_b[1] = {9};
    mb_gguf_value inner[2] = {
        {.type = MB_GGUF_ARR, .arr = {.type = MB_GGUF_U8, .n = 2, .raw = inner_a}},
        {.type = MB_GGUF_ARR, .arr = {.type = MB_GGUF_U8, .n = 1, .raw = inner_b}}};
    const mb_gguf_value nested = {.type = MB_GGUF_ARR,
                                  .arr = {.type = MB_GGUF_ARR, .n = 2, .items = inner}};
    static float f32[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static uint8_t q8[34]; /* one Q8_0 block: f16 scale + 32 int8 */
    const uint64_t ne_f[2] = {4, 2}, ne_q[1] = {32};
    CHECK_OK(mb_gguf_writer_new(&w));
    CHECK_OK(mb_gguf_writer_set_u32(w, "test.u32", 42));
    CHECK_OK(mb_gguf_writer_set_i32(w, "test.i32", -5));
    CHECK_OK(mb_gguf_writer_set_f32(w, "test.f32", 0.5f));
    CHECK_OK(mb_gguf_writer_set_bool(w, "test.bool", true));
    CHECK_OK(mb_gguf_writer_set_str(w, "test.str", "hello"));
    CHECK_OK(mb_gguf_writer_set_arr(w, "test.counts", MB_GGUF_U32, counts, 3));
    CHECK_OK(mb_gguf_writer_set_arr_str(w, "test.names", names, 2));
    CHECK_OK(mb_gguf_writer_set_value(w, "test.nested", &nested));
    CHECK_OK(mb_gguf_writer_add_tensor(w, "a.weight", 0 /* F32 */, 2, ne_f, f32, sizeof f32));
    CHECK_OK(mb_gguf_writer_add_tensor(w, "b.weight", 8 /* Q8_0 */, 1, ne_q, q8, sizeof q8));
    CHECK_OK(mb_gguf_writer_write(w, path));
    mb_gguf_writer_free(w);
    return path;
}

/* The index of KEY by walking the table as `matchbox inspect` does. */
static int64_t key_index(const mb_gguf *g, const char *key) {
    for (uint64_t i = 0; i < mb_gguf_n_kv(g); i++)
        if (!strcmp(mb_gguf_kv_key(g, i), key)) return (int64_t)i;
    return -1;
}

static void test_header_and_keys(const mb_gguf *g) {
    CHECK_EQ_INT(mb_gguf_version(g), 3);
    CHECK_EQ_INT(mb_gguf_alignment(g), 32);
    CHECK(mb_gguf_data_offset(g) > 0 && mb_gguf_data_offset(g) % 32 == 0);
    /* the eight keys written (the default alignment is not written) */
    CHECK_EQ_INT(mb_gguf_n_kv(g), 8);
    CHECK(key_index(g, "test.u32") >= 0 && key_index(g, "test.nested") >= 0);
    const int64_t k = key_index(g, "test.str");
    CHECK(k >= 0 && mb_gguf_kv_value(g, (uint64_t)k) == mb_gguf_find_value(g, "test.str"));
    CHECK(mb_gguf_kv_key(g, mb_gguf_n_kv(g)) == NULL);
    CHECK(mb_gguf_kv_value(g, mb_gguf_n_kv(g)) == NULL);
    CHECK(mb_gguf_find_value(g, "test.absent") == NULL);
}

static void test_scalars(const mb_gguf *g) {
    const mb_gguf_value *u = mb_gguf_find_value(g, "test.u32");
    const mb_gguf_value *i = mb_gguf_find_value(g, "test.i32");
    const mb_gguf_value *f = mb_gguf_find_value(g, "test.f32");
    const mb_gguf_value *b = mb_gguf_find_value(g, "test.bool");
    const mb_gguf_value *s = mb_gguf_find_value(g, "test.str");
    if (!u || !i || !f || !b || !s) {
        CHECK_MSG(0, "a scalar key is missing");
        return;
    }
    CHECK_EQ_INT(mb_gguf_value_type(u), MB_GGUF_U32);
    CHECK_EQ_INT(mb_gguf_value_u64(u), 42);
    CHECK_EQ_INT(mb_gguf_value_type(i), MB_GGUF_I32);
    CHECK_EQ_INT(mb_gguf_value_i64(i), -5); /* sign-extended */
    CHECK_EQ_INT(mb_gguf_value_type(f), MB_GGUF_F32);
    CHECK_NEAR(mb_gguf_value_f64(f), 0.5, 0);
    CHECK_EQ_INT(mb_gguf_value_type(b), MB_GGUF_BOOL);
    CHECK_EQ_INT(mb_gguf_value_u64(b), 1);
    /* another kind's getter answers 0, not a reinterpretation of the bits */
    CHECK_EQ_INT(mb_gguf_value_i64(u), 0);
    CHECK_EQ_INT(mb_gguf_value_u64(i), 0);
    CHECK_NEAR(mb_gguf_value_f64(u), 0, 0);
    uint64_t len = 99;
    CHECK(mb_gguf_value_str(u, &len) == NULL && len == 0);
    const char *str = mb_gguf_value_str(s, &len);
    CHECK(str && len == 5 && !memcmp(str, "hello", 5));
    /* a scalar is no array */
    CHECK_EQ_INT(mb_gguf_arr_type(u), MB_GGUF_TYPE_COUNT);
    CHECK_EQ_INT(mb_gguf_arr_n(u), 0);
    CHECK(!strcmp(mb_gguf_type_name(MB_GGUF_U32), "u32"));
    CHECK(!strcmp(mb_gguf_type_name(MB_GGUF_TYPE_COUNT), "unknown"));
}

static void test_arrays(const mb_gguf *g) {
    const mb_gguf_value *c = mb_gguf_find_value(g, "test.counts");
    const mb_gguf_value *n = mb_gguf_find_value(g, "test.names");
    const mb_gguf_value *x = mb_gguf_find_value(g, "test.nested");
    if (!c || !n || !x) {
        CHECK_MSG(0, "an array key is missing");
        return;
    }
    CHECK_EQ_INT(mb_gguf_value_type(c), MB_GGUF_ARR);
    CHECK_EQ_INT(mb_gguf_arr_type(c), MB_GGUF_U32);
    CHECK_EQ_INT(mb_gguf_arr_n(c), 3);
    CHECK_EQ_INT(mb_gguf_arr_i64(c, 1), 8);
    CHECK_EQ_INT(mb_gguf_arr_i64(c, 2), 4000000000LL); /* u32 above INT32_MAX stays positive */
    CHECK_NEAR(mb_gguf_arr_f64(c, 0), 7.0, 0);
    CHECK(mb_gguf_arr_str(c, 0, NULL) == NULL && mb_gguf_arr_item(c, 0) == NULL);
    uint64_t len = 0;
    CHECK_EQ_INT(mb_gguf_arr_type(n), MB_GGUF_STR);
    const char *s = mb_gguf_arr_str(n, 1, &len);
    CHECK(s && len == 5 && !memcmp(s, "be\nta", 5));
    CHECK(mb_gguf_arr_str(n, 2, &len) == NULL && len == 0); /* past the end */
    CHECK_EQ_INT(mb_gguf_arr_type(x), MB_GGUF_ARR);
    CHECK_EQ_INT(mb_gguf_arr_n(x), 2);
    const mb_gguf_value *in = mb_gguf_arr_item(x, 0);
    CHECK(in && mb_gguf_arr_type(in) == MB_GGUF_U8 && mb_gguf_arr_n(in) == 2);
    CHECK(in && mb_gguf_arr_i64(in, 1) == 2);
    in = mb_gguf_arr_item(x, 1);
    CHECK(in && mb_gguf_arr_n(in) == 1 && mb_gguf_arr_i64(in, 0) == 9);
    CHECK(mb_gguf_arr_item(x, 2) == NULL);
}

static void test_tensors(const mb_gguf *g) {
    CHECK_EQ_INT(mb_gguf_n_tensors(g), 2);
    const mb_gguf_tensor *a = mb_gguf_tensor_at(g, 0), *b = mb_gguf_tensor_at(g, 1);
    if (!a || !b) {
        CHECK_MSG(0, "a tensor is missing");
        return;
    }
    CHECK(!strcmp(a->name, "a.weight") && a->n_dims == 2 && a->ne[0] == 4 && a->ne[1] == 2);
    CHECK(a->ne[2] == 1 && a->ne[3] == 1); /* unused dimensions are 1 */
    CHECK(a->type == 0 && a->nbytes == 32 && a->offset == 0);
    CHECK(a->data && ((const float *)a->data)[7] == 8.0f);
    CHECK(!strcmp(mb_gguf_tensor_type_name(b->type), "Q8_0"));
    CHECK(b->nbytes == 34 && b->offset % 32 == 0 && b->offset >= 32);
    CHECK(mb_gguf_find_tensor(g, "b.weight") == b);
    CHECK(mb_gguf_find_tensor(g, "c.weight") == NULL);
    CHECK(mb_gguf_tensor_at(g, 2) == NULL);
}

static void test_type_table(void) {
    CHECK_EQ_INT(mb_gguf_tensor_type_from_name("q4_k"), 12);
    CHECK_EQ_INT(mb_gguf_tensor_type_from_name("Q9_Z"), -1);
    CHECK(!strcmp(mb_gguf_tensor_type_name(1), "F16"));
    CHECK(!strcmp(mb_gguf_tensor_type_name(200), "type 200"));
    uint64_t bytes = 7;
    CHECK(mb_gguf_tensor_type_bytes(8, 64, &bytes) && bytes == 68); /* two Q8_0 blocks */
    CHECK(mb_gguf_tensor_type_bytes(1, 3, &bytes) && bytes == 6);   /* F16 */
    bytes = 7;
    CHECK(!mb_gguf_tensor_type_bytes(8, 33, &bytes) && bytes == 7); /* not whole blocks */
    CHECK(!mb_gguf_tensor_type_bytes(200, 32, &bytes));             /* unknown type */
}

int main(void) {
    const char *path = write_file();
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    if (g) {
        test_header_and_keys(g);
        test_scalars(g);
        test_arrays(g);
        test_tensors(g);
        mb_gguf_close(g);
    }
    test_type_table();
    /* a failed open leaves nothing open and *out NULL */
    g = (mb_gguf *)&g;
    CHECK(mb_gguf_open("/nonexistent/x.gguf", 1, 0, &g) == MB_ERR_IO && g == NULL);
    CHECK(strstr(mb_last_error(), "/nonexistent/x.gguf") != NULL);
    return mbt_finish();
}
