/* matchbox/gguf.h: model files as files.
 *
 * - Read-only inspection of any GGUF file (versions 2 and 3): its metadata
 *   keys with their typed values, and its tensor table. The reader checks
 *   every count, length and offset against the file size before use, so a
 *   corrupt file fails with a message instead of reading out of bounds; it
 *   does not need the architecture to be one matchbox runs (vocab-only
 *   files and unknown architectures open too).
 * - Import of llama2.c checkpoints (mb_llama2c_convert).
 * - Merging a LoRA adapter into a model's weights (mb_lora_merge).
 *
 * Thread-safety: an open mb_gguf is read-only; any number of threads may
 * read it at once. Close it once, when no other thread uses it. Functions
 * that write files may run concurrently on different output paths. */
#ifndef MATCHBOX_GGUF_H
#define MATCHBOX_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include <matchbox.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- inspection -------------------------------------------------------- */

/* The type of a metadata value (GGUF's gguf_type; ids fixed by the format). */
typedef enum {
    MB_GGUF_U8 = 0,
    MB_GGUF_I8 = 1,
    MB_GGUF_U16 = 2,
    MB_GGUF_I16 = 3,
    MB_GGUF_U32 = 4,
    MB_GGUF_I32 = 5,
    MB_GGUF_F32 = 6,
    MB_GGUF_BOOL = 7,
    MB_GGUF_STR = 8,
    MB_GGUF_ARR = 9,
    MB_GGUF_U64 = 10,
    MB_GGUF_I64 = 11,
    MB_GGUF_F64 = 12,
    MB_GGUF_TYPE_COUNT
} mb_gguf_type;

/* An open GGUF file. */
typedef struct mb_gguf mb_gguf;
/* A metadata value inside an open file: valid until mb_gguf_close. */
typedef struct mb_gguf_value mb_gguf_value;

/* One row of the tensor table, owned by the reader and valid until
 * mb_gguf_close. Read-only. Obtained by pointer (mb_gguf_tensor_at), so
 * fields may be added at the end in later versions. */
typedef struct {
    char *name;          /* NUL-terminated */
    uint32_t n_dims;     /* 1..4 */
    uint64_t ne[4];      /* elements per dimension; ne[0] is the row length
                          * (contiguous); unused dimensions are 1 */
    uint32_t type;       /* tensor type id (ggml_type): mb_gguf_tensor_type_name */
    uint64_t offset;     /* of the data, from the start of the data section */
    uint64_t nbytes;     /* of the data */
    const uint8_t *data; /* the bytes: into the file map or read buffer */
} mb_gguf_tensor;

/* Open and validate the GGUF file at PATH. USE_MMAP 1 maps the file (only
 * the pages touched are read: inspecting a large model is cheap); 0 reads
 * it into memory. USE_MLOCK locks the map in RAM. Split files
 * (NAME-00001-of-00003.gguf) and unknown tensor types are refused with a
 * message. On success *OUT is a new reader to close with mb_gguf_close; on
 * failure *OUT is NULL, nothing is left open and mb_last_error() says why
 * (the byte offset of a problem in the file included). */
MB_API mb_status mb_gguf_open(const char *path, int use_mmap, int use_mlock, mb_gguf **out);
/* Release the reader, its map and every pointer obtained from it (NULL: nothing). */
MB_API void mb_gguf_close(mb_gguf *g);

/* The format version (2 or 3), the alignment of the tensor data (bytes,
 * general.alignment or 32) and the file offset at which the data section
 * starts (a multiple of the alignment). */
MB_API uint32_t mb_gguf_version(const mb_gguf *g);
MB_API uint64_t mb_gguf_alignment(const mb_gguf *g);
MB_API uint64_t mb_gguf_data_offset(const mb_gguf *g);

/* Metadata, in file order: N keys; key I (NUL-terminated) and its value
 * (I < mb_gguf_n_kv, else NULL). mb_gguf_find_value: the value of KEY, or
 * NULL when the file has no such key. Pointers are valid until
 * mb_gguf_close. */
MB_API uint64_t mb_gguf_n_kv(const mb_gguf *g);
MB_API const char *mb_gguf_kv_key(const mb_gguf *g, uint64_t i);
MB_API const mb_gguf_value *mb_gguf_kv_value(const mb_gguf *g, uint64_t i);
MB_API const mb_gguf_value *mb_gguf_find_value(const mb_gguf *g, const char *key);

/* A value's type (an mb_gguf_type). */
MB_API mb_gguf_type mb_gguf_value_type(const mb_gguf_value *v);
/* Scalars: U8..U64 and BOOL (0 or 1) as unsigned, I8..I64 as signed (sign
 * extended), F32 and F64 as double. Each returns 0 for a value of another
 * kind, so check mb_gguf_value_type first. */
MB_API uint64_t mb_gguf_value_u64(const mb_gguf_value *v);
MB_API int64_t mb_gguf_value_i64(const mb_gguf_value *v);
MB_API double mb_gguf_value_f64(const mb_gguf_value *v);
/* A STR value: its bytes (NOT NUL-terminated: GGUF strings carry a length)
 * and *LEN; NULL (and *LEN 0) for a value of another type. The bytes are
 * inside the file map, valid until mb_gguf_close. */
MB_API const char *mb_gguf_value_str(const mb_gguf_value *v, uint64_t *len);

/* ARR values: the element type and count (MB_GGUF_TYPE_COUNT and 0 for a
 * value that is no array). Element I < n as a number (any scalar element
 * type; 0 otherwise), as a string (STR elements; NULL otherwise; not
 * NUL-terminated, *LEN its length), or as a value (ARR elements: nested
 * arrays; NULL otherwise). Indexes are not checked beyond these rules:
 * I must be below mb_gguf_arr_n. */
MB_API mb_gguf_type mb_gguf_arr_type(const mb_gguf_value *arr);
MB_API uint64_t mb_gguf_arr_n(const mb_gguf_value *arr);
MB_API int64_t mb_gguf_arr_i64(const mb_gguf_value *arr, uint64_t i);
MB_API double mb_gguf_arr_f64(const mb_gguf_value *arr, uint64_t i);
MB_API const char *mb_gguf_arr_str(const mb_gguf_value *arr, uint64_t i, uint64_t *len);
MB_API const mb_gguf_value *mb_gguf_arr_item(const mb_gguf_value *arr, uint64_t i);

/* "u8", "i32", "f32", "bool", "str", "arr", ... ("unknown" for an unknown
 * id). A static string. */
MB_API const char *mb_gguf_type_name(uint32_t type);

/* The tensor table: N tensors in file order; tensor I (NULL if I >= N), or
 * the tensor called NAME (NULL if none). Valid until mb_gguf_close. */
MB_API uint64_t mb_gguf_n_tensors(const mb_gguf *g);
MB_API const mb_gguf_tensor *mb_gguf_tensor_at(const mb_gguf *g, uint64_t i);
MB_API const mb_gguf_tensor *mb_gguf_find_tensor(const mb_gguf *g, const char *name);

/* Tensor types (ggml_type ids: 0 F32, 1 F16, 2 Q4_0, ..., 12 Q4_K, 30 BF16).
 * The name as llama.cpp prints it ("Q4_K"); for an unknown id "type N",
 * in a buffer owned by the calling thread and overwritten by its next
 * call. */
MB_API const char *mb_gguf_tensor_type_name(uint32_t type);
/* The id of a type name (case-insensitive), or -1 if unknown. */
MB_API int mb_gguf_tensor_type_from_name(const char *name);
/* Bytes of N_ELEMENTS values of TYPE into *BYTES: 1, or 0 if TYPE is
 * unknown, N_ELEMENTS is not a multiple of its block or the size overflows
 * (*BYTES unchanged). */
MB_API int mb_gguf_tensor_type_bytes(uint32_t type, uint64_t n_elements, uint64_t *bytes);

/* ---- llama2.c import --------------------------------------------------- */

/* A llama2.c checkpoint's header, as validated. */
typedef struct {
    int32_t version; /* 0 ("legacy") or 1 */
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads;
    int32_t vocab_size;     /* always positive (version 0's sign went to shared_classifier) */
    int32_t seq_len;        /* trained context */
    bool shared_classifier; /* the output matrix is the token embedding */
    uint64_t header_bytes;  /* 28 (v0) or 256 (v1) */
    uint64_t file_bytes;    /* the exact size the header implies */
} mb_llama2c_config;

typedef struct {
    const char *name; /* general.name; NULL (default): the checkpoint's file name sans extension */
} mb_llama2c_convert_params;

MB_API mb_llama2c_convert_params mb_llama2c_convert_default_params(void);

typedef struct {
    uint32_t n_tensors;
    uint64_t n_params;     /* weights written (freq_cis is dropped: GGUF recomputes RoPE) */
    uint64_t tensor_bytes; /* bytes of tensor data written */
    mb_llama2c_config cfg;
} mb_llama2c_convert_stats;

/* Convert a llama2.c checkpoint (version 0 or 1, fp32) at CHECKPOINT_PATH
 * and its tokenizer.bin at TOKENIZER_PATH into a GGUF of the llama
 * architecture, all F32, at OUT_PATH (llama.cpp loads it too). The output
 * is written atomically (matchbox/files.h): on any failure OUT_PATH is
 * untouched and no temporary is left. PARAMS (NULL: defaults) and STATS
 * (NULL: not wanted) may be NULL. Version 2 (Q8_0 groups) is refused with
 * MB_ERR_UNSUPPORTED. */
MB_API mb_status mb_llama2c_convert(const char *checkpoint_path, const char *tokenizer_path,
                                    const char *out_path, const mb_llama2c_convert_params *params,
                                    mb_llama2c_convert_stats *stats);

/* ---- LoRA merge -------------------------------------------------------- */

/* Write the model at BASE_PATH to OUT_PATH with W' = W + SCALE (alpha / r)
 * B A in place of every matrix W the adapter at ADAPTER_PATH adapts (GGUF
 * LoRA layout: general.type "adapter"; docs/TRAINING.md); every other
 * tensor and key is copied. F32, F16 and BF16 matrices keep their type; a
 * quantized matrix is dequantized, merged and written in F16. The adapter
 * is checked against the model (architecture, names, shapes) first.
 * *N_MERGED gets the matrices merged and *N_TO_F16 the quantized ones
 * among them (either may be NULL). OUT_PATH is written atomically: on
 * failure it is untouched. */
MB_API mb_status mb_lora_merge(const char *base_path, const char *adapter_path, float scale,
                               const char *out_path, int *n_merged, int *n_to_f16);

#ifdef __cplusplus
}
#endif

#endif
