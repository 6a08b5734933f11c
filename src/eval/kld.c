/* The KL-divergence base file: the log-probabilities a high-precision model
 * gives at every scored position, so that a quantized model can be compared
 * against them later without loading both. Layout (little-endian):
 *
 *   char[8]  "MBKLDLP1"
 *   u32      n_ctx, n_vocab, n_chunks
 *   i32      tokens[n_chunks * n_ctx]   (as evaluated: first of each chunk BOS)
 *   then per chunk, per scored position (n_ctx - 1 - n_ctx/2 of them):
 *   u16      logp[n_vocab]              (IEEE half: log-softmax of the logits)
 *
 * Half precision keeps the file at 2 bytes per vocabulary entry; the error
 * it adds to log-probabilities near 0 (the ones that carry the KLD) is
 * below 1e-3 relative. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checked.h"
#include "core/error.h"
#include "eval/kld.h"
#include "matchbox/files.h"
#include "tensor/types.h"

static const char MAGIC[8] = {'M', 'B', 'K', 'L', 'D', 'L', 'P', '1'};

struct mb_kld_file {
    FILE *f;
    char *path, *tmp; /* tmp != NULL: writing */
    int n_vocab;
    uint16_t *row;
};

static mb_status new_file(const char *path, int n_vocab, mb_kld_file **out) {
    mb_kld_file *k = calloc(1, sizeof *k);
    if (!k || !(k->path = strdup(path)) || !(k->row = malloc((size_t)n_vocab * sizeof *k->row))) {
        if (k) free(k->path);
        free(k);
        return mb_errorf(MB_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    k->n_vocab = n_vocab;
    *out = k;
    return MB_OK;
}

static int put_u32(FILE *f, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return fwrite(b, 1, 4, f) == 4;
}

static int get_u32(FILE *f, uint32_t *v) {
    uint8_t b[4];
    if (fread(b, 1, 4, f) != 4) return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

mb_status mb_kld_create(const char *path, int n_ctx, int n_vocab, int n_chunks,
                        const mb_token *tokens, mb_kld_file **out) {
    *out = NULL;
    mb_kld_file *k;
    mb_status st = new_file(path, n_vocab, &k);
    if (st) return st;
    int fd = -1;
    if ((st = mb_outfile_check(path)) == MB_OK && (fd = mb_outfile_create(path, &k->tmp)) >= 0 &&
        !(k->f = fdopen(fd, "wb")))
        st = mb_errorf(MB_ERR_IO, "%s: cannot open a temporary file: %s", path, strerror(errno));
    if (fd < 0 && st == MB_OK) st = MB_ERR_IO; /* mb_outfile_create set the message */
    if (st != MB_OK) {
        if (fd >= 0 && !k->f) close(fd);
        mb_kld_close(k);
        return st;
    }
    int ok = fwrite(MAGIC, 1, 8, k->f) == 8 && put_u32(k->f, (uint32_t)n_ctx) &&
             put_u32(k->f, (uint32_t)n_vocab) && put_u32(k->f, (uint32_t)n_chunks);
    for (long i = 0; ok && i < (long)n_chunks * n_ctx; i++)
        ok = put_u32(k->f, (uint32_t)tokens[i]);
    if (!ok) {
        st = mb_errorf(MB_ERR_IO, "%s: write failed: %s", k->tmp, strerror(errno));
        mb_kld_close(k);
        return st;
    }
    *out = k;
    return MB_OK;
}

mb_status mb_kld_open(const char *path, int n_ctx, int n_vocab, const mb_token *tokens,
                      int n_tokens_avail, int *n_chunks, mb_kld_file **out) {
    *out = NULL;
    mb_kld_file *k;
    mb_status st = new_file(path, n_vocab, &k);
    if (st) return st;
    char magic[8];
    uint32_t c = 0, v = 0, nc = 0;
    if (!(k->f = fopen(path, "rb"))) {
        st = mb_errorf(MB_ERR_IO, "cannot open KL-divergence base %s: %s", path, strerror(errno));
    } else if (fread(magic, 1, 8, k->f) != 8 || memcmp(magic, MAGIC, 8) != 0 ||
               !get_u32(k->f, &c) || !get_u32(k->f, &v) || !get_u32(k->f, &nc)) {
        st = mb_errorf(MB_ERR_FORMAT, "%s: not a matchbox KL-divergence base (magic %.8s)", path,
                       MAGIC);
    } else if (c != (uint32_t)n_ctx || v != (uint32_t)n_vocab) {
        st = mb_errorf(MB_ERR_INVALID_ARG,
                       "%s: made with context %u and vocabulary %u; this run has %d and %d", path,
                       c, v, n_ctx, n_vocab);
    } else if (nc == 0 || (uint64_t)nc * c > (uint64_t)n_tokens_avail) {
        st = mb_errorf(MB_ERR_INVALID_ARG,
                       "%s: holds %u chunks of %u tokens, but this text has only %d tokens", path,
                       nc, c, n_tokens_avail);
    }
    for (uint64_t i = 0; !st && i < (uint64_t)nc * c; i++) {
        uint32_t t;
        if (!get_u32(k->f, &t))
            st = mb_errorf(MB_ERR_FORMAT, "%s: truncated in the token list", path);
        else if ((int32_t)t != tokens[i])
            st = mb_errorf(MB_ERR_INVALID_ARG,
                           "%s: token %llu is %d, this run has %d: the base was made from "
                           "another text or tokenizer",
                           path, (unsigned long long)i, (int32_t)t, tokens[i]);
    }
    if (st) {
        mb_kld_close(k);
        return st;
    }
    *n_chunks = (int)nc;
    *out = k;
    return MB_OK;
}

mb_status mb_kld_put(mb_kld_file *k, const float *logp) {
    for (int i = 0; i < k->n_vocab; i++)
        k->row[i] = mb_fp32_to_fp16(logp[i]);
    if (fwrite(k->row, sizeof *k->row, (size_t)k->n_vocab, k->f) != (size_t)k->n_vocab)
        return mb_errorf(MB_ERR_IO, "%s: write failed: %s", k->tmp, strerror(errno));
    return MB_OK;
}

mb_status mb_kld_get(mb_kld_file *k, float *logp) {
    if (fread(k->row, sizeof *k->row, (size_t)k->n_vocab, k->f) != (size_t)k->n_vocab)
        return mb_errorf(MB_ERR_FORMAT, "%s: truncated in the log-probabilities", k->path);
    for (int i = 0; i < k->n_vocab; i++)
        logp[i] = mb_fp16_to_fp32(k->row[i]);
    return MB_OK;
}

mb_status mb_kld_commit(mb_kld_file *k) {
    if (!k->tmp) return MB_OK;
    int bad = fflush(k->f) != 0 || fsync(fileno(k->f)) != 0;
    bad |= fclose(k->f) != 0;
    k->f = NULL;
    char *tmp = k->tmp;
    k->tmp = NULL;
    if (bad) {
        mb_status st =
            mb_errorf(MB_ERR_IO, "%s: cannot finish writing: %s", k->path, strerror(errno));
        mb_outfile_discard(tmp);
        return st;
    }
    return mb_outfile_commit(tmp, k->path);
}

void mb_kld_close(mb_kld_file *k) {
    if (!k) return;
    if (k->f) fclose(k->f);
    mb_outfile_discard(k->tmp);
    free(k->path);
    free(k->row);
    free(k);
}
