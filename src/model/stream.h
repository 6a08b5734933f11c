/* Weights read from the file while the forward pass runs, under the plan of
 * model/plan.h: prefetch threads (two) read the streamed layers' matrices
 * into a ring of layer buffers one layer ahead of the pass (pread: the mapping's
 * pages of streamed layers are never touched, so they never count in RSS);
 * the pass waits for layer il, uses a copy of its mb_layer whose matrices
 * point into the buffer, and releases it, which frees the buffer for the
 * layer after next. Experts of MoE layers come from an LRU cache of expert
 * slices (stream_experts.c), token embeddings by row.
 *
 * One forward pass at a time per model: mb_stream_pass_begin takes a
 * model-wide lock that mb_stream_pass_end drops. The ring is the model's,
 * so passes of two sessions cannot interleave their layers; a streamed
 * model is bound by reading the weights anyway, and sessions that want to
 * share the reads decode in one batch (runtime/batch.c: one pass for all).
 *
 * Errors (a short read from a file that shrank, an I/O error) are returned
 * by mb_stream_layer for the layer that failed; the pass stops there, and
 * the next pass reads the layer again. */
#ifndef MB_MODEL_STREAM_H
#define MB_MODEL_STREAM_H

#include <stdint.h>
#include <sys/types.h>

#include "model/model.h"
#include "model/plan.h"

typedef struct mb_stream mb_stream;

/* Streaming of MODEL's file PATH under PLAN (moved into the stream).
 * MATCHBOX_STREAM=mmap in the environment prefetches with madvise(WILLNEED)
 * on the mapping and drops with madvise(DONTNEED) instead of pread into
 * buffers (measured in docs/PERFORMANCE.md; a file that shrinks then
 * raises SIGBUS instead of an error). MATCHBOX_STREAM_DROP=1 drops each
 * streamed read from the page cache (POSIX_FADV_DONTNEED), so that every
 * pass reads from storage: a device whose RAM cannot cache the file. */
mb_status mb_stream_new(const mb_model *model, const char *path, mb_weight_plan *plan,
                        mb_stream **out);
void mb_stream_free(mb_stream *s);

void mb_stream_pass_begin(mb_stream *s);
void mb_stream_pass_end(mb_stream *s);

/* Layer IL's weights for the pass: MODEL's own (resident layers) or a
 * copy pointing into a ring buffer, ready. */
mb_status mb_stream_layer(mb_stream *s, int il, const mb_layer **out);
void mb_stream_release(mb_stream *s, int il);

/* Token embeddings of TOKENS[0..n) into X (n x n_embd floats), each row
 * read from the file. */
mb_status mb_stream_embed(mb_stream *s, const mb_token *tokens, int n, float *x);

/* Expert E of layer IL: its gate, up and down matrices (valid until the
 * next call), from the cache or read into it. */
mb_status mb_stream_expert(void *stream, int il, int e, const mb_matrix **mats);

/* Counters since load. */
void mb_stream_stats_get(mb_stream *s, mb_stream_stats *out);

/* Tests only: every read goes through this (pread by default), so that a
 * test can inject an I/O error. */
extern ssize_t (*mb_stream_pread_fn)(int fd, void *buf, size_t n, off_t off);

/* The experts' cache (stream_experts.c), owned by the stream. */
typedef struct mb_expert_cache mb_expert_cache;
mb_status mb_expert_cache_new(const mb_model *m, const mb_weight_plan *plan, int fd,
                              mb_expert_cache **out);
void mb_expert_cache_free(mb_expert_cache *c);
mb_status mb_expert_cache_get(mb_expert_cache *c, int il, int e, const mb_matrix **mats);
void mb_expert_cache_counts(const mb_expert_cache *c, uint64_t *hits, uint64_t *misses,
                            uint64_t *bytes);
/* Read LEN bytes at OFF of FD into DST; an error naming WHAT on a short
 * read (the file shrank) or an I/O error. */
mb_status mb_stream_read(int fd, uint8_t *dst, uint64_t len, uint64_t off, const char *what);

#endif
