/* The type table, the fp16/bf16 conversions and hand-built blocks of every
 * type decoding to values worked out from the format description. */
#include "test_util.h"

#include "tensor/blocks.h"
#include "tensor/types.h"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- the table ------------------------------------------------------ */

typedef struct {
    uint32_t id;
    const char *name;
    uint32_t block_size, type_size;
    bool quantized;
} expected_type;

/* Sizes from the GGUF format description (ggml-common.h's block structs). */
static const expected_type k_expected[] = {
    {0, "F32", 1, 4, false},      {1, "F16", 1, 2, false},      {30, "BF16", 1, 2, false},
    {2, "Q4_0", 32, 18, true},    {3, "Q4_1", 32, 20, true},    {6, "Q5_0", 32, 22, true},
    {7, "Q5_1", 32, 24, true},    {8, "Q8_0", 32, 34, true},    {9, "Q8_1", 32, 36, true},
    {10, "Q2_K", 256, 84, true},  {11, "Q3_K", 256, 110, true}, {12, "Q4_K", 256, 144, true},
    {13, "Q5_K", 256, 176, true}, {14, "Q6_K", 256, 210, true}, {15, "Q8_K", 256, 292, true},
};
#define N_EXPECTED (sizeof k_expected / sizeof k_expected[0])

static void test_table_rows(void) {
    for (size_t i = 0; i < N_EXPECTED; i++) {
        const expected_type *e = &k_expected[i];
        const mb_type_traits *t = mb_type_get(e->id);
        CHECK_MSG(t != NULL, "type %u missing", e->id);
        if (!t) continue;
        CHECK_MSG(strcmp(t->name, e->name) == 0, "%s vs %s", t->name, e->name);
        CHECK_EQ_INT(t->block_size, e->block_size);
        CHECK_EQ_INT(t->type_size, e->type_size);
        CHECK(t->is_quantized == e->quantized);
        CHECK(t->to_float != NULL);
        CHECK_MSG(t->from_float != NULL, "%s has no reference encoder", e->name);
        CHECK(strcmp(mb_type_name(e->id), e->name) == 0);
        CHECK_EQ_INT(mb_type_from_name(e->name), e->id);
    }
    /* The block structs are the layouts the table describes. */
    CHECK_EQ_INT(sizeof(mb_block_q4_0), mb_type_get(MB_TYPE_Q4_0)->type_size);
    CHECK_EQ_INT(sizeof(mb_block_q5_1), mb_type_get(MB_TYPE_Q5_1)->type_size);
    CHECK_EQ_INT(sizeof(mb_block_q8_1), mb_type_get(MB_TYPE_Q8_1)->type_size);
    CHECK_EQ_INT(sizeof(mb_block_q3_k), mb_type_get(MB_TYPE_Q3_K)->type_size);
    CHECK_EQ_INT(sizeof(mb_block_q6_k), mb_type_get(MB_TYPE_Q6_K)->type_size);
    CHECK_EQ_INT(sizeof(mb_block_q8_k), mb_type_get(MB_TYPE_Q8_K)->type_size);
}

static void test_table_unknown(void) {
    /* 4 and 5 were Q4_2/Q4_3 (removed), 16..29 are the IQ types; 31..33
     * are matchbox's sparse types in memory (files give them other ids). */
    const uint32_t unknown[] = {4, 5, 16, 20, 29, 34, 39, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECK(mb_type_get(unknown[i]) == NULL);
    }
    CHECK(strcmp(mb_type_name(4), "type 4") == 0);
    CHECK(strcmp(mb_type_name(1000), "type 1000") == 0);
    CHECK_EQ_INT(mb_type_from_name("q4_k"), MB_TYPE_Q4_K);
    CHECK_EQ_INT(mb_type_from_name("bf16"), MB_TYPE_BF16);
    CHECK_EQ_INT(mb_type_from_name("Q4_K_M"), -1); /* a file type, not a tensor type */
    CHECK_EQ_INT(mb_type_from_name("Q4"), -1);
    CHECK_EQ_INT(mb_type_from_name(""), -1);
    CHECK_EQ_INT(mb_type_from_name(NULL), -1);
}

static void test_row_bytes(void) {
    uint64_t b = 0;
    CHECK(mb_type_row_bytes(MB_TYPE_Q4_K, 4096, &b) && b == 16 * 144);
    CHECK(mb_type_row_bytes(MB_TYPE_F16, 3, &b) && b == 6);
    CHECK(mb_type_row_bytes(MB_TYPE_Q8_0, 0, &b) && b == 0);
    CHECK(!mb_type_row_bytes(MB_TYPE_Q4_0, 33, &b));  /* not whole blocks */
    CHECK(!mb_type_row_bytes(MB_TYPE_Q6_K, 128, &b)); /* half a super-block */
    CHECK(!mb_type_row_bytes(4, 32, &b));             /* unknown type */
    /* 2^63 F32 values or 2^56 - 1 Q8_K blocks do not fit in 64 bits of bytes. */
    CHECK(!mb_type_row_bytes(MB_TYPE_F32, UINT64_C(1) << 63, &b));
    CHECK(!mb_type_row_bytes(MB_TYPE_Q8_K, UINT64_MAX - 255, &b));
    CHECK(mb_type_row_bytes(MB_TYPE_Q8_K, UINT64_C(1) << 60, &b) && b == (UINT64_C(73) << 54));
    CHECK(mb_type_row_bytes(MB_TYPE_F32, UINT64_C(1) << 61, &b) && b == UINT64_C(1) << 63);
}

/* ---- fp16 ----------------------------------------------------------- */

static void test_fp16_cases(void) {
    CHECK_EQ_INT(mb_fp32_to_fp16(0.0f), 0x0000);
    CHECK_EQ_INT(mb_fp32_to_fp16(-0.0f), 0x8000);
    CHECK_EQ_INT(mb_fp32_to_fp16(1.0f), 0x3C00);
    CHECK_EQ_INT(mb_fp32_to_fp16(-2.0f), 0xC000);
    CHECK_EQ_INT(mb_fp32_to_fp16(0.333333343f), 0x3555);
    CHECK_EQ_INT(mb_fp32_to_fp16(65504.0f), 0x7BFF);   /* largest half */
    CHECK_EQ_INT(mb_fp32_to_fp16(65519.996f), 0x7BFF); /* just below the tie */
    CHECK_EQ_INT(mb_fp32_to_fp16(65520.0f), 0x7C00);   /* tie, odd -> rounds up to inf */
    CHECK_EQ_INT(mb_fp32_to_fp16(1e10f), 0x7C00);
    CHECK_EQ_INT(mb_fp32_to_fp16(-1e10f), 0xFC00);
    CHECK_EQ_INT(mb_fp32_to_fp16(INFINITY), 0x7C00);
    CHECK_EQ_INT(mb_fp32_to_fp16(-INFINITY), 0xFC00);
    CHECK_EQ_INT(mb_fp32_to_fp16(0x1p-14f), 0x0400); /* least normal */
    CHECK_EQ_INT(mb_fp32_to_fp16(0x1p-24f), 0x0001); /* least subnormal */
    CHECK_EQ_INT(mb_fp32_to_fp16(1023 * 0x1p-24f), 0x03FF);
    CHECK_EQ_INT(mb_fp32_to_fp16(0x1p-25f), 0x0000); /* tie with 0: even */
    CHECK_EQ_INT(mb_fp32_to_fp16(-0x1p-25f), 0x8000);
    CHECK_EQ_INT(mb_fp32_to_fp16(float_of(bits_of(0x1p-25f) + 1)), 0x0001);
    CHECK_EQ_INT(mb_fp32_to_fp16(3 * 0x1p-25f), 0x0002); /* tie 1|2: even */
    CHECK_EQ_INT(mb_fp32_to_fp16(5 * 0x1p-25f), 0x0002); /* tie 2|3: even */
    CHECK_EQ_INT(mb_fp32_to_fp16(1e-30f), 0x0000);
    CHECK_EQ_INT(mb_fp32_to_fp16(0x1p-149f), 0x0000); /* float subnormal */
    /* 2047/2048 * 2^-14 is a tie between 0x3FF and 0x400. */
    CHECK_EQ_INT(mb_fp32_to_fp16(2047 * 0x1p-25f), 0x0400);
    CHECK_EQ_INT(mb_fp32_to_fp16(1.0f + 0x1p-11f), 0x3C00);     /* tie: stays even */
    CHECK_EQ_INT(mb_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3C02); /* tie: up to even */
    CHECK_EQ_INT(mb_fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    uint16_t nan = mb_fp32_to_fp16(NAN);
    CHECK((nan & 0x7C00) == 0x7C00 && (nan & 0x03FF) != 0);
    /* A NaN whose payload is only in the low bits must stay a NaN. */
    uint16_t snan = mb_fp32_to_fp16(float_of(0x7F800001u));
    CHECK((snan & 0x7C00) == 0x7C00 && (snan & 0x03FF) != 0);
    CHECK(mb_fp32_to_fp16(float_of(0xFFC00000u)) & 0x8000); /* sign kept */

    CHECK(mb_fp16_to_fp32(0x0001) == 0x1p-24f);
    CHECK(mb_fp16_to_fp32(0x03FF) == 1023 * 0x1p-24f);
    CHECK(mb_fp16_to_fp32(0x0400) == 0x1p-14f);
    CHECK(mb_fp16_to_fp32(0x7BFF) == 65504.0f);
    CHECK(mb_fp16_to_fp32(0x3555) == 0.333251953125f);
    CHECK(mb_fp16_to_fp32(0x7C00) == INFINITY);
    CHECK(mb_fp16_to_fp32(0xFC00) == -INFINITY);
    CHECK(isnan(mb_fp16_to_fp32(0x7E00)) && isnan(mb_fp16_to_fp32(0x7C01)));
    CHECK(mb_fp16_to_fp32(0x8000) == 0.0f && signbit(mb_fp16_to_fp32(0x8000)));
    CHECK(mb_fp16_to_fp32(0x8001) == -0x1p-24f);
}

/* Every half survives a trip through float; NaNs stay NaN. */
static void test_fp16_all_values(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = mb_fp16_to_fp32((uint16_t)h);
        bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (is_nan) {
            if (!isnan(f) || !isnan(mb_fp16_to_fp32(mb_fp32_to_fp16(f)))) bad++;
        } else if (mb_fp32_to_fp16(f) != h) {
            bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* Round to nearest even at every boundary: the midpoint between two adjacent
 * halves goes to the even one, one float ulp either side goes to the nearer. */
static void test_fp16_every_midpoint(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x7C00; h++) {
        double lo = mb_fp16_to_fp32((uint16_t)h);
        double hi = h + 1 == 0x7C00 ? 65536.0 : mb_fp16_to_fp32((uint16_t)(h + 1));
        float mid = (float)((lo + hi) / 2); /* 12 significant bits: exact */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        for (int s = 0; s < 2; s++) {
            uint16_t sign = s ? 0x8000 : 0;
            float m = s ? -mid : mid;
            float toward0 = nextafterf(m, 0.0f), away = nextafterf(m, s ? -INFINITY : INFINITY);
            if (mb_fp32_to_fp16(m) != (sign | even)) bad++;
            if (mb_fp32_to_fp16(toward0) != (sign | h)) bad++;
            if (mb_fp32_to_fp16(away) != (sign | (h + 1))) bad++;
        }
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---- bf16 ----------------------------------------------------------- */

static void test_bf16_cases(void) {
    CHECK_EQ_INT(mb_fp32_to_bf16(1.0f), 0x3F80);
    CHECK_EQ_INT(mb_fp32_to_bf16(-0.0f), 0x8000);
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x3F808000u)), 0x3F80); /* tie: even */
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x3F818000u)), 0x3F82); /* tie: even */
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x3F808001u)), 0x3F81);
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x3F807FFFu)), 0x3F80);
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x7F7FFFFFu)), 0x7F80); /* FLT_MAX -> inf */
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x7F7F7FFFu)), 0x7F7F);
    CHECK_EQ_INT(mb_fp32_to_bf16(INFINITY), 0x7F80);
    CHECK_EQ_INT(mb_fp32_to_bf16(-INFINITY), 0xFF80);
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x00000001u)), 0x0000); /* subnormals round too */
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x00018000u)), 0x0002);
    CHECK_EQ_INT(mb_fp32_to_bf16(float_of(0x00008000u)), 0x0000);
    uint16_t n1 = mb_fp32_to_bf16(float_of(0x7F800001u)); /* payload below bit 16 */
    CHECK((n1 & 0x7F80) == 0x7F80 && (n1 & 0x7F) != 0);
    uint16_t n2 = mb_fp32_to_bf16(float_of(0xFFFFFFFFu)); /* must not carry into sign */
    CHECK((n2 & 0x7F80) == 0x7F80 && (n2 & 0x7F) != 0 && (n2 & 0x8000));
    CHECK(mb_bf16_to_fp32(0x3F80) == 1.0f);
    CHECK(mb_bf16_to_fp32(0xC040) == -3.0f);
    CHECK(mb_bf16_to_fp32(0x0001) == float_of(0x00010000u));
    CHECK(isnan(mb_bf16_to_fp32(0x7FC0)));
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = mb_bf16_to_fp32((uint16_t)h);
        if (!isnan(f) && mb_fp32_to_bf16(f) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

/* ---- hand-built blocks ---------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Decode BLK (one block of TYPE) and compare with EXPECT exactly. */
static void check_decode(uint32_t type, const uint8_t *blk, const float *expect) {
    const mb_type_traits *t = mb_type_get(type);
    float out[256];
    t->to_float(blk, out, t->block_size);
    int bad = 0;
    for (uint32_t e = 0; e < t->block_size; e++) {
        if (out[e] != expect[e]) {
            if (bad++ < 4) fprintf(stderr, "%s[%u]: %g, want %g\n", t->name, e, out[e], expect[e]);
        }
    }
    CHECK_MSG(bad == 0, "%s: %d values differ", t->name, bad);
}

static void test_blocks_32(void) {
    uint8_t b[64];
    float want[32];

    /* Q4_0, d = 0.5: value j is nibble j (low, 0..15), value 16+j nibble 15-j (high). */
    put16(b, 0x3800);
    for (int j = 0; j < 16; j++)
        b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    for (int j = 0; j < 16; j++) {
        want[j] = (j - 8) * 0.5f;
        want[16 + j] = (7 - j) * 0.5f;
    }
    check_decode(MB_TYPE_Q4_0, b, want);

    /* Q4_1, d = 0.25, m = -1: x = q/4 - 1. */
    put16(b, 0x3400);
    put16(b + 2, 0xBC00);
    for (int j = 0; j < 16; j++)
        b[4 + j] = (uint8_t)(j | ((15 - j) << 4));
    for (int j = 0; j < 16; j++) {
        want[j] = j * 0.25f - 1;
        want[16 + j] = (15 - j) * 0.25f - 1;
    }
    check_decode(MB_TYPE_Q4_1, b, want);

    /* Q5_0, d = 1: qh bits 0..3 and 28..31 set, so values 0..3 and 28..31 get
     * +16 before the -16 offset. */
    put16(b, 0x3C00);
    b[2] = 0x0F, b[3] = 0, b[4] = 0, b[5] = 0xF0;
    for (int j = 0; j < 16; j++)
        b[6 + j] = (uint8_t)(j | (j << 4));
    for (int j = 0; j < 16; j++) {
        want[j] = (float)(j + (j < 4 ? 16 : 0) - 16);
        want[16 + j] = (float)(j + (j >= 12 ? 16 : 0) - 16);
    }
    check_decode(MB_TYPE_Q5_0, b, want);

    /* Q5_1, d = 2, m = 0.5, qh = AA 55 AA 55: bit e set for odd e in bytes 0
     * and 2, even e in bytes 1 and 3. */
    put16(b, 0x4000);
    put16(b + 2, 0x3800);
    b[4] = 0xAA, b[5] = 0x55, b[6] = 0xAA, b[7] = 0x55;
    for (int j = 0; j < 16; j++)
        b[8 + j] = (uint8_t)(j | ((15 - j) << 4));
    for (int e = 0; e < 32; e++) {
        int nib = e < 16 ? e : 15 - (e - 16);
        int byte = e / 8, bit = (e % 2) == (byte % 2 == 0 ? 1 : 0);
        want[e] = (nib + (bit ? 16 : 0)) * 2.0f + 0.5f;
    }
    check_decode(MB_TYPE_Q5_1, b, want);

    /* Q8_0, d = 0.125, codes -128..120 step 8. */
    put16(b, 0x3000);
    for (int j = 0; j < 32; j++)
        b[2 + j] = (uint8_t)(int8_t)(j * 8 - 128);
    for (int j = 0; j < 32; j++)
        want[j] = (j * 8 - 128) * 0.125f;
    check_decode(MB_TYPE_Q8_0, b, want);

    /* Q8_1, d = 1 (s is not part of the value). */
    put16(b, 0x3C00);
    put16(b + 2, 0x1234);
    for (int j = 0; j < 32; j++)
        b[4 + j] = (uint8_t)(int8_t)(127 - j);
    for (int j = 0; j < 32; j++)
        want[j] = (float)(127 - j);
    check_decode(MB_TYPE_Q8_1, b, want);
}

/* Q3_K's 16 six-bit scales (each stored + 32) in 12 bytes. */
static void pack_q3k_scales(const int *sc, uint8_t *s) {
    memset(s, 0, 12);
    for (int i = 0; i < 16; i++) {
        int u = sc[i] + 32;
        s[i % 8] |= (uint8_t)((u & 0xF) << (i < 8 ? 0 : 4));
        s[8 + i % 4] |= (uint8_t)((u >> 4) << (2 * (i / 4)));
    }
}

/* Q4_K/Q5_K's eight 6-bit scale/min pairs in 12 bytes. */
static void pack_k4(const int *sc, const int *m, uint8_t *s) {
    memset(s, 0, 12);
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

static void test_blocks_k(void) {
    uint8_t b[512];
    float want[256];

    /* Q2_K, d = 1, dmin = 0.5, sub-block j: scale j, min 15 - j. Every code
     * byte 0xE4 holds codes 0,1,2,3 in its bit pairs, so value e has code
     * (e % 128) / 32. */
    for (int j = 0; j < 16; j++)
        b[j] = (uint8_t)(j | ((15 - j) << 4));
    memset(b + 16, 0xE4, 64);
    put16(b + 80, 0x3C00);
    put16(b + 82, 0x3800);
    for (int e = 0; e < 256; e++)
        want[e] = (float)((e / 16) * ((e % 128) / 32)) - 0.5f * (15 - e / 16);
    check_decode(MB_TYPE_Q2_K, b, want);

    /* Q3_K, d = 0.5, scales i - 8; hmask bits 0..3 set, so the first 128
     * values have no -4 and the last 128 do. */
    int sc16[16];
    for (int i = 0; i < 16; i++)
        sc16[i] = i - 8;
    memset(b, 0x0F, 32);
    memset(b + 32, 0xE4, 64);
    pack_q3k_scales(sc16, b + 96);
    put16(b + 108, 0x3800);
    for (int e = 0; e < 256; e++) {
        int q = (e % 128) / 32 - (e < 128 ? 0 : 4);
        want[e] = 0.5f * (e / 16 - 8) * q;
    }
    check_decode(MB_TYPE_Q3_K, b, want);

    /* Q4_K, d = 1, dmin = 0.25, scale 9j and min 63 - 9j (both use the high
     * bits). Byte l of each 32 holds nibbles l%16 (even sub-block) and
     * 15 - l%16 (odd sub-block). */
    int sc8[8], m8[8];
    for (int j = 0; j < 8; j++)
        sc8[j] = 9 * j, m8[j] = 63 - 9 * j;
    put16(b, 0x3C00);
    put16(b + 2, 0x3400);
    pack_k4(sc8, m8, b + 4);
    for (int l = 0; l < 128; l++)
        b[16 + l] = (uint8_t)((l % 16) | ((15 - l % 16) << 4));
    for (int e = 0; e < 256; e++) {
        int j = e / 32, l = e % 32, q = j % 2 ? 15 - l % 16 : l % 16;
        want[e] = (float)(sc8[j] * q) - 0.25f * m8[j];
    }
    check_decode(MB_TYPE_Q4_K, b, want);

    /* Q5_K: the same plus qh = 0x55, the fifth bit for even sub-blocks. */
    memmove(b + 48, b + 16, 128);
    memset(b + 16, 0x55, 32);
    for (int e = 0; e < 256; e++) {
        int j = e / 32, l = e % 32, q = (j % 2 ? 15 - l % 16 : l % 16) + (j % 2 ? 0 : 16);
        want[e] = (float)(sc8[j] * q) - 0.25f * m8[j];
    }
    check_decode(MB_TYPE_Q5_K, b, want);

    /* Q6_K, d = 0.25, scales 8i - 64, value e has code e % 64 (minus 32). */
    memset(b, 0, 192);
    for (int e = 0; e < 256; e++) {
        int q = e % 64, h = e / 128, k = (e % 128) / 32, l = e % 32;
        b[64 * h + l + 32 * (k % 2)] |= (uint8_t)((q & 0xF) << (k < 2 ? 0 : 4));
        b[128 + 32 * h + l] |= (uint8_t)((q >> 4) << (2 * k));
    }
    for (int i = 0; i < 16; i++)
        b[192 + i] = (uint8_t)(int8_t)(8 * i - 64);
    put16(b + 208, 0x3400);
    for (int e = 0; e < 256; e++)
        want[e] = 0.25f * (8 * (e / 16) - 64) * (e % 64 - 32);
    check_decode(MB_TYPE_Q6_K, b, want);

    /* Q8_K, d = 0.5 as a float. */
    float d = 0.5f;
    memcpy(b, &d, 4);
    for (int e = 0; e < 256; e++)
        b[4 + e] = (uint8_t)(int8_t)(e - 128);
    for (int e = 0; e < 256; e++)
        want[e] = 0.5f * (e - 128);
    check_decode(MB_TYPE_Q8_K, b, want);
}

static void test_float_rows(void) {
    const float x[4] = {1.5f, -0.0f, 65504.0f, 0x1p-24f};
    uint8_t h[8];
    float y[4];
    mb_type_get(MB_TYPE_F16)->from_float(x, h, 4);
    mb_type_get(MB_TYPE_F16)->to_float(h, y, 4);
    CHECK(memcmp(x, y, sizeof x) == 0); /* all four are exact halves */
    mb_type_get(MB_TYPE_BF16)->from_float(x, h, 4);
    mb_type_get(MB_TYPE_BF16)->to_float(h, y, 4);
    CHECK(y[0] == 1.5f && y[1] == 0.0f && signbit(y[1]) && y[2] == 65536.0f);
    mb_type_get(MB_TYPE_F32)->from_float(x, y, 4);
    CHECK(memcmp(x, y, sizeof x) == 0);
}

int main(void) {
    test_table_rows();
    test_table_unknown();
    test_row_bytes();
    test_fp16_cases();
    test_fp16_all_values();
    test_fp16_every_midpoint();
    test_bf16_cases();
    test_blocks_32();
    test_blocks_k();
    test_float_rows();
    return mbt_finish();
}
