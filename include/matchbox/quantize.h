/* matchbox/quantize.h: shrinking a model file's weights (docs/QUANTIZE.md).
 *
 * - mb_quantize_file: GGUF in, GGUF out, with llama.cpp's presets of
 *   per-tensor types (Q4_K_M, Q8_0, ...), per-tensor overrides, importance
 *   weighted fits, SmoothQuant, a bits-per-weight target, and the
 *   calibrated methods GPTQ and AWQ.
 * - Importance matrices (mb_imatrix): the per input channel statistics of
 *   every block matrix over a calibration text, captured by mb_calibrate,
 *   read and written in llama.cpp's formats.
 *
 * Thread-safety: every function may be called from any thread. An object
 * (mb_imatrix, mb_quant_overrides) is used by one thread at a time while it
 * is changed; read-only uses (a const pointer) may share it. Failing calls
 * leave a message for mb_last_error() on the calling thread. */
#ifndef MATCHBOX_QUANTIZE_H
#define MATCHBOX_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include <matchbox.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of a long call: TEXT is a piece of a human-readable report
 * (lines end in '\n'; a "\r" starts a line that overwrites the previous
 * one), as the CLI prints it to stderr. Called on the thread that made the
 * call; TEXT is valid only during the call. */
typedef void (*mb_progress_fn)(void *user, const char *text);

/* ---- presets ----------------------------------------------------------- */

/* A quantization preset: a name and the rules choosing each tensor's type
 * (llama.cpp's llama_ftype of the same name). Static, never freed. */
typedef struct {
    const char *name;   /* "Q4_K_M" */
    uint32_t ftype;     /* general.file_type written to the output */
    uint32_t base_type; /* the tensor type most tensors get (matchbox/gguf.h ids) */
    const char *desc;   /* one line for a help text */
} mb_quant_preset;

/* The preset called NAME (case-insensitive), or NULL if there is none. */
MB_API const mb_quant_preset *mb_quant_preset_find(const char *name);
/* The presets, for listing: I in [0, mb_quant_preset_count()). */
MB_API int mb_quant_preset_count(void);
MB_API const mb_quant_preset *mb_quant_preset_at(int i);
/* "F32, F16, BF16, Q8_0, ...": every preset name, a static string. */
MB_API const char *mb_quant_preset_names(void);

/* ---- per-tensor overrides ---------------------------------------------- */

/* Types chosen by the user for some tensors, before the preset's rules:
 * llama-quantize's --tensor-type, --output-tensor-type and
 * --token-embedding-type. */
typedef struct mb_quant_overrides mb_quant_overrides;

/* A new empty set in *OUT, freed with mb_quant_overrides_free (NULL: nothing). */
MB_API mb_status mb_quant_overrides_new(mb_quant_overrides **out);
MB_API void mb_quant_overrides_free(mb_quant_overrides *o);
/* Add a rule "PATTERN=TYPE": tensors whose name matches the POSIX extended
 * regular expression PATTERN (searched anywhere in the name) get tensor
 * type TYPE ("Q6_K"). The first matching rule wins. A bad pattern or type
 * fails with a message and leaves O as it was. */
MB_API mb_status mb_quant_overrides_add(mb_quant_overrides *o, const char *spec);
/* OUTPUT 1: the type of output.weight (or of token_embd.weight when the
 * model ties them); 0: the type of token_embd.weight. Roles go before rules. */
MB_API mb_status mb_quant_overrides_set_role(mb_quant_overrides *o, int output, const char *type);
/* Rules and roles set. */
MB_API int mb_quant_overrides_count(const mb_quant_overrides *o);

/* ---- importance matrices ----------------------------------------------- */

/* Per weight matrix, the sum over calibration rows of each input channel's
 * x^2 and its max |x|, and the rows seen. The quantizer weights each
 * column's fitting error by mean x^2; SmoothQuant uses the maxima. */
typedef struct mb_imatrix mb_imatrix;

/* A new empty matrix in *OUT, freed with mb_imatrix_free (NULL: nothing). */
MB_API mb_status mb_imatrix_new(mb_imatrix **out);
MB_API void mb_imatrix_free(mb_imatrix *im);
/* Read PATH: llama.cpp's GGUF imatrix (with matchbox's NAME.in_max when
 * present) or its legacy imatrix.dat, told apart by content. *OUT gets a
 * new matrix; on failure it is NULL. */
MB_API mb_status mb_imatrix_read(const char *path, mb_imatrix **out);
/* Write IM to PATH, atomically (matchbox/files.h): legacy .dat when PATH
 * ends in ".dat", GGUF otherwise. On failure PATH is untouched. */
MB_API mb_status mb_imatrix_write(const mb_imatrix *im, const char *path);
/* Record the name of a calibration text in the file's dataset list (copied). */
MB_API mb_status mb_imatrix_add_dataset(mb_imatrix *im, const char *name);
/* Add SRC's sums, counts, maxima, datasets and chunk count into DST
 * (entries DST lacks are created). A matrix of another shape in DST fails
 * with MB_ERR_FORMAT, the message naming it; DST may then hold part of SRC. */
MB_API mb_status mb_imatrix_merge(mb_imatrix *dst, const mb_imatrix *src);
/* Matrices held, chunks of calibration text accumulated, and tokens per
 * chunk (0 if unknown). */
MB_API int mb_imatrix_n_entries(const mb_imatrix *im);
MB_API int mb_imatrix_chunk_count(const mb_imatrix *im);
MB_API int mb_imatrix_chunk_size(const mb_imatrix *im);

typedef struct {
    int n_ctx;               /* tokens per chunk; default 512 (0: 512) */
    int n_chunks;            /* chunks to run; default 0: as many as the text has */
    int n_threads;           /* 0 (default): physical cores */
    mb_progress_fn progress; /* NULL (default): quiet */
    void *progress_user;
} mb_calibrate_params;

MB_API mb_calibrate_params mb_calibrate_default_params(void);

/* Run MODEL over TEXT (LEN bytes) in chunks of n_ctx tokens, each from an
 * empty cache with BOS first (as perplexity does), and add the input rows
 * of every block matrix product (blk.*) to IM. MODEL is used through a
 * session of its own: other threads may use MODEL meanwhile. A text shorter
 * than one chunk fails with MB_ERR_INVALID_ARG; a failure part way leaves
 * IM with the chunks done so far. */
MB_API mb_status mb_calibrate(mb_model *model, const char *text, size_t len,
                              const mb_calibrate_params *params, mb_imatrix *im);

/* ---- quantizing a file ------------------------------------------------- */

typedef enum {
    MB_QUANT_PLAIN = 0, /* round each block (importance weighted with an imatrix) */
    MB_QUANT_GPTQ = 1,  /* GPTQ (Frantar et al. 2022): error feedback via the Hessian */
    MB_QUANT_AWQ = 2    /* AWQ (Lin et al. 2023): input scales folded into the norms */
} mb_quant_method;

typedef struct {
    const char *type;     /* the preset (mb_quant_preset_names); default "Q4_K_M" */
    int n_threads;        /* 0 (default): physical cores */
    int allow_requantize; /* accept already quantized input tensors (loses more); 0 */
    int allow_fallback;   /* legacy types (Q8_0, Q4_0, ...): F16 for tensors whose
                           * rows their block does not divide, instead of failing; 0 */
    /* Importance-weighted fits (NULL, default: plain), and with
     * smooth_alpha in (0, 1] SmoothQuant scales from its maxima, folded
     * into the norms (0, default: none; needs an imatrix from mb_calibrate). */
    const mb_imatrix *imatrix;
    float smooth_alpha;
    const mb_quant_overrides *overrides; /* NULL (default): the preset's types */
    /* > 0: choose each matrix's type (Q2_K..Q8_0) for this many bits per
     * weight with the least KL divergence, measured tensor by tensor on the
     * calibration text (needs calib_path). 0 (default): the preset's types. */
    double target_bpw;
    mb_quant_method method; /* default MB_QUANT_PLAIN */
    /* The calibration text (a file) for GPTQ, AWQ and target_bpw: the input
     * model is run over n_chunks chunks of n_ctx tokens of it.
     * Defaults NULL, 32 chunks, min(512, trained context) (0: default). */
    const char *calib_path;
    int calib_chunks, calib_ctx;
    struct {
        double damp;      /* lambda = damp * mean(diag H); default 0.01 */
        int act_order;    /* blocks, and columns in them, by diag(H) descending; 0 */
        int block;        /* lazy batch width in columns; default 128 */
        int weighted_fit; /* fit block scales weighting channels by diag(H); 0 */
        double mem_mib;   /* Hessians collected per calibration pass, MiB; 1024 */
    } gptq;
    struct {
        int n_grid;       /* grid points of alpha in [0, 1); default 20 */
        int no_down;      /* scale only the norm-fed matrices, not ffn_down; 0 */
        int weighted_fit; /* weighted encoders for the scaled matrices; default 1
                           * (better than plain fits at every type measured) */
    } awq;
    mb_progress_fn progress; /* one line per tensor, and the methods' notes; NULL: quiet */
    void *progress_user;
} mb_quantize_params;

MB_API mb_quantize_params mb_quantize_default_params(void);

typedef struct {
    uint64_t bytes_in, bytes_out; /* tensor data */
    uint64_t file_in, file_out;   /* whole files */
    uint64_t n_weights;           /* elements of all tensors */
    int n_tensors, n_converted, n_fallback;
    int n_weighted;      /* tensors fitted with the importance matrix */
    int n_smooth_groups; /* norms SmoothQuant rescaled */
    double seconds;
} mb_quantize_stats;

/* Quantize the GGUF model at IN to OUT with PARAMS (NULL: defaults). Every
 * tensor's type is planned before OUT is created, so refusals (an unknown
 * preset, quantized input without allow_requantize, a legacy type that
 * does not divide a row) come first. OUT is written atomically
 * (matchbox/files.h): on failure it is untouched. Memory stays near one
 * tensor's bytes plus the method's statistics (IN is mapped). The
 * calibrated paths (method, target_bpw) load and run IN as a model.
 * *STATS (may be NULL) is zeroed, and filled on success. */
MB_API mb_status mb_quantize_file(const char *in, const char *out, const mb_quantize_params *params,
                                  mb_quantize_stats *stats);

/* Weight error of FILE against BASE (same tensor names and shapes, any
 * types): RMSE over every tensor element, and the share of blocks of
 * quantized tensors whose bytes equal those of REF_FILE (NULL: skip). */
typedef struct {
    double rmse;         /* sqrt(mean squared difference) over all compared elements */
    double max_abs;      /* largest absolute difference */
    uint64_t n_compared; /* elements */
    uint64_t n_blocks, n_blocks_same;
} mb_quant_compare_result;

MB_API mb_status mb_quant_compare(const char *base, const char *file, const char *ref_file,
                                  mb_quant_compare_result *out);

/* ---- pruning (docs/QUANTIZE.md, "Pruning") ------------------------- */

typedef enum {
    MB_PRUNE_MAGNITUDE = 0, /* smallest |w| go */
    MB_PRUNE_WANDA = 1,     /* smallest |w| * ||x_j|| (Sun et al. 2023), from calibration */
    /* SparseGPT (Frantar & Alistarh 2023): smallest w^2 / [H^-1]_jj^2 per
     * block of 128 columns, the others updated to compensate (the GPTQ
     * solver's inverse Hessian), from calibration */
    MB_PRUNE_SPARSEGPT = 2
} mb_prune_method;

typedef struct {
    double sparsity;        /* share of each pruned matrix's weights set to zero; default 0.5 */
    mb_prune_method method; /* default MB_PRUNE_MAGNITUDE */
    /* N:M: of every M consecutive weights of a row, the N best are kept (2:4,
     * 4:8); sparsity is then 1 - N/M. 0, 0 (default): unstructured, the
     * best of each row kept (and, for a sparse type, at most half of each
     * block of 256). */
    int n, m;
    /* The pruned matrices' tensor type: "SQ4" (default: 4-bit non-zeros
     * with a bitmask, docs/FORMAT.md), "SQ8", or NULL for the preset's
     * dense type (zeros stored as values: for quality comparisons). */
    const char *type;
    const char *preset; /* the other tensors' types, as mb_quantize_file's; "Q4_K_M" */
    /* Per-tensor sparsity, "REGEX=S[,REGEX=S...]" over tensor names, first
     * match wins (e.g. "attn_=0.3,blk\\.[0-3]\\.=0.4"); NULL: none. */
    const char *schedule;
    const char *calib_path; /* Wanda: the calibration text */
    int calib_chunks, calib_ctx;
    int n_threads;
    mb_progress_fn progress;
    void *progress_user;
} mb_prune_params;

MB_API mb_prune_params mb_prune_default_params(void);

/* Prune the matrices of the transformer blocks (blk.*: attention and
 * feed-forward projections) of IN and write OUT: the weights of lowest
 * score set to zero per the pattern, then each matrix stored in
 * PARAMS->type and every other tensor as PARAMS->preset has it. The file
 * records the method, pattern and target sparsity (matchbox.sparse.*).
 * Atomic as mb_quantize_file; *STATS as its. */
MB_API mb_status mb_prune_file(const char *in, const char *out, const mb_prune_params *params,
                               mb_quantize_stats *stats);

/* Write IN with every sparse tensor in the standard type holding exactly
 * its values (SQ4 as Q4_0, SQ8 as Q8_0: each quarter's scale becomes its
 * two blocks' scale), every other tensor copied: a file any GGUF runtime
 * reads. */
MB_API mb_status mb_densify_file(const char *in, const char *out, mb_quantize_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
