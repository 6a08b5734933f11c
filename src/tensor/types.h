/* The tensor type table: one row per GGUF tensor type. Every generic routine
 * (row sizes, dequantization, quantization) looks the type up here instead of
 * switching on it, so adding a type touches this table and its codec file. */
#ifndef MB_TENSOR_TYPES_H
#define MB_TENSOR_TYPES_H

#include <stdbool.h>
#include <stdint.h>

/* GGUF type ids (ggml_type), fixed by the file format. */
typedef enum {
    MB_TYPE_F32 = 0,
    MB_TYPE_F16 = 1,
    MB_TYPE_Q4_0 = 2,
    MB_TYPE_Q4_1 = 3,
    MB_TYPE_Q5_0 = 6,
    MB_TYPE_Q5_1 = 7,
    MB_TYPE_Q8_0 = 8,
    MB_TYPE_Q8_1 = 9,
    MB_TYPE_Q2_K = 10,
    MB_TYPE_Q3_K = 11,
    MB_TYPE_Q4_K = 12,
    MB_TYPE_Q5_K = 13,
    MB_TYPE_Q6_K = 14,
    MB_TYPE_Q8_K = 15,
    MB_TYPE_BF16 = 30,
    /* matchbox's own sparse types (docs/FORMAT.md, "Sparse tensor types"):
     * in memory they follow ggml's ids; in a file they carry the
     * matchbox-namespaced ids below, which no other runtime knows, so a
     * file using them fails there with an ordinary unknown-type error. */
    MB_TYPE_SQ4 = 31,
    MB_TYPE_SQ8 = 32,
    MB_TYPE_SQ4_24 = 33,
    MB_TYPE_COUNT = 34 /* one past the largest id we know; ids below it may be unknown */
} mb_type;

/* The ids the sparse types carry in GGUF files: "MB" in the high bytes. */
enum { MB_FILE_TYPE_SPARSE_BASE = 0x4D420000u };
/* A tensor type id as read from a file, in the ids above (a file's sparse
 * ids map to MB_TYPE_SQ4...; an id in the internal sparse range, which no
 * file may use, maps to an unknown id), and back for writing. */
uint32_t mb_type_from_file(uint32_t file_type);
uint32_t mb_type_to_file(uint32_t type);

/* Converts N values (a multiple of block_size) of this type to float. */
typedef void (*mb_to_float_fn)(const void *src, float *dst, int64_t n);
/* Reference encoder: N floats (a multiple of block_size) to this type. */
typedef void (*mb_from_float_fn)(const float *src, void *dst, int64_t n);

typedef struct {
    const char *name;    /* "Q4_K", as llama.cpp prints it */
    uint32_t block_size; /* values per block (1 for float types) */
    uint32_t type_size;  /* bytes per block */
    bool is_quantized;
    mb_to_float_fn to_float;     /* NULL: no decoder (never for a type in the table) */
    mb_from_float_fn from_float; /* NULL: no reference encoder */
} mb_type_traits;

/* The row for a GGUF type id, or NULL if matchbox does not know it. */
const mb_type_traits *mb_type_get(uint32_t type);
/* The name for any id ("type 42" style for unknown ones, in a static buffer
 * per thread). */
const char *mb_type_name(uint32_t type);
/* Look up by name (case-insensitive); returns -1 if unknown. */
int mb_type_from_name(const char *name);

/* Bytes of N values of TYPE. False if TYPE is unknown, N is not a multiple of
 * its block size, or the size overflows. */
bool mb_type_row_bytes(uint32_t type, uint64_t n, uint64_t *out);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float mb_fp16_to_fp32(uint16_t h);
uint16_t mb_fp32_to_fp16(float f);
float mb_bf16_to_fp32(uint16_t h);
uint16_t mb_fp32_to_bf16(float f);

#endif
