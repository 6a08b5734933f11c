/* The type table. Sizes and layouts are fixed by GGUF (ggml's type ids);
 * the codecs live in dequant_*.c and quant_*.c. */
#include "tensor/types.h"

#include <stdio.h>

#include "core/checked.h"
#include "tensor/blocks.h"
#include "tensor/codecs.h"

/* Indexed by GGUF type id; a row with a NULL name is an id we do not know
 * (Q4_2/Q4_3 were removed from the format, the IQ types are not supported). */
static const mb_type_traits k_types[MB_TYPE_COUNT] = {
    [MB_TYPE_F32] = {"F32", 1, sizeof(float), false, mb_f32_to_float, mb_f32_from_float},
    [MB_TYPE_F16] = {"F16", 1, sizeof(uint16_t), false, mb_f16_to_float, mb_f16_from_float},
    [MB_TYPE_BF16] = {"BF16", 1, sizeof(uint16_t), false, mb_bf16_to_float, mb_bf16_from_float},
    [MB_TYPE_Q4_0] = {"Q4_0", MB_QK4_0, sizeof(mb_block_q4_0), true, mb_q4_0_to_float,
                      mb_q4_0_from_float},
    [MB_TYPE_Q4_1] = {"Q4_1", MB_QK4_1, sizeof(mb_block_q4_1), true, mb_q4_1_to_float,
                      mb_q4_1_from_float},
    [MB_TYPE_Q5_0] = {"Q5_0", MB_QK5_0, sizeof(mb_block_q5_0), true, mb_q5_0_to_float,
                      mb_q5_0_from_float},
    [MB_TYPE_Q5_1] = {"Q5_1", MB_QK5_1, sizeof(mb_block_q5_1), true, mb_q5_1_to_float,
                      mb_q5_1_from_float},
    [MB_TYPE_Q8_0] = {"Q8_0", MB_QK8_0, sizeof(mb_block_q8_0), true, mb_q8_0_to_float,
                      mb_q8_0_from_float},
    [MB_TYPE_Q8_1] = {"Q8_1", MB_QK8_1, sizeof(mb_block_q8_1), true, mb_q8_1_to_float,
                      mb_q8_1_from_float},
    [MB_TYPE_Q2_K] = {"Q2_K", MB_QK_K, sizeof(mb_block_q2_k), true, mb_q2_k_to_float,
                      mb_q2_k_from_float},
    [MB_TYPE_Q3_K] = {"Q3_K", MB_QK_K, sizeof(mb_block_q3_k), true, mb_q3_k_to_float,
                      mb_q3_k_from_float},
    [MB_TYPE_Q4_K] = {"Q4_K", MB_QK_K, sizeof(mb_block_q4_k), true, mb_q4_k_to_float,
                      mb_q4_k_from_float},
    [MB_TYPE_Q5_K] = {"Q5_K", MB_QK_K, sizeof(mb_block_q5_k), true, mb_q5_k_to_float,
                      mb_q5_k_from_float},
    [MB_TYPE_Q6_K] = {"Q6_K", MB_QK_K, sizeof(mb_block_q6_k), true, mb_q6_k_to_float,
                      mb_q6_k_from_float},
    [MB_TYPE_Q8_K] = {"Q8_K", MB_QK_K, sizeof(mb_block_q8_k), true, mb_q8_k_to_float,
                      mb_q8_k_from_float},
    [MB_TYPE_SQ4] = {"SQ4", MB_QK_SPARSE, sizeof(mb_block_sq4), true, mb_sq4_to_float,
                     mb_sq4_from_float},
    [MB_TYPE_SQ8] = {"SQ8", MB_QK_SPARSE, sizeof(mb_block_sq8), true, mb_sq8_to_float,
                     mb_sq8_from_float},
    [MB_TYPE_SQ4_24] = {"SQ4_24", MB_QK_SPARSE, sizeof(mb_block_sq4_24), true, mb_sq4_24_to_float,
                        mb_sq4_24_from_float},
};

/* The sparse types sit after ggml's ids in memory, at MB_FILE_TYPE_SPARSE_BASE
 * + k in files. Ids in [MB_TYPE_SQ4, MB_TYPE_COUNT) are ggml's to assign
 * later, so a file using one is read as an unknown type. */
uint32_t mb_type_from_file(uint32_t file_type) {
    if (file_type >= MB_TYPE_SQ4 && file_type < MB_TYPE_COUNT) return UINT32_MAX;
    if (file_type >= MB_FILE_TYPE_SPARSE_BASE &&
        file_type < MB_FILE_TYPE_SPARSE_BASE + (MB_TYPE_COUNT - MB_TYPE_SQ4))
        return file_type - MB_FILE_TYPE_SPARSE_BASE + MB_TYPE_SQ4;
    return file_type;
}

uint32_t mb_type_to_file(uint32_t type) {
    if (type >= MB_TYPE_SQ4 && type < MB_TYPE_COUNT)
        return type - MB_TYPE_SQ4 + MB_FILE_TYPE_SPARSE_BASE;
    return type;
}

const mb_type_traits *mb_type_get(uint32_t type) {
    if (type >= MB_TYPE_COUNT || !k_types[type].name) return NULL;
    return &k_types[type];
}

const char *mb_type_name(uint32_t type) {
    const mb_type_traits *t = mb_type_get(type);
    if (t) return t->name;
    static _Thread_local char buf[24];
    snprintf(buf, sizeof buf, "type %u", type);
    return buf;
}

static int ascii_lower(int c) {
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int names_equal(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b)) return 0;
    }
    return *a == *b;
}

int mb_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < MB_TYPE_COUNT; i++) {
        if (k_types[i].name && names_equal(k_types[i].name, name)) return i;
    }
    return -1;
}

bool mb_type_row_bytes(uint32_t type, uint64_t n, uint64_t *out) {
    const mb_type_traits *t = mb_type_get(type);
    if (!t || n % t->block_size != 0) return false;
    return mb_mul_u64(n / t->block_size, t->type_size, out);
}
