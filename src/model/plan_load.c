/* The resident part of a streamed model, read into anonymous memory
 * (plan.h, mb_plan_load_resident). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "model/model.h"
#include "model/plan.h"
#include "model/stream.h"

static uint64_t align64(uint64_t n) {
    return (n + 63) & ~(uint64_t)63;
}

mb_status mb_plan_load_resident(mb_model *m, const mb_weight_plan *p, const char *path) {
    mb_gguf *g = m->gguf;
    uint64_t size = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!mb_plan_is_streamed(p, g, &g->tensors[i])) size += align64(g->tensors[i].nbytes);
    if (size == 0) return MB_OK;
    /* Huge pages advised (the resident layers decode as fast as without a
     * budget), but the length rounded to a page only: the kernel backs with
     * huge pages only 2 MiB that lie inside the mapping, so RSS never goes
     * past the planned bytes. */
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t cap = (size_t)((size + page - 1) / page * page);
    uint8_t *block = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED)
        return mb_errorf(MB_ERR_NO_MEMORY, "cannot allocate %llu bytes for the resident weights",
                         (unsigned long long)size);
#ifdef MADV_HUGEPAGE
    madvise(block, cap, MADV_HUGEPAGE);
#endif
    m->resident_block = block;
    m->resident_size = cap;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mb_errorf(MB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t at = 0;
    mb_status st = MB_OK;
    for (uint64_t i = 0; !st && i < g->n_tensors; i++) {
        mb_gguf_tensor *t = &g->tensors[i];
        if (mb_plan_is_streamed(p, g, t)) continue;
        char what[320];
        snprintf(what, sizeof what, "%s, %s", path, t->name);
        st = mb_stream_read(fd, block + at, t->nbytes, (uint64_t)(t->data - g->map.data), what);
        t->data = block + at; /* bound from here on */
        at += align64(t->nbytes);
    }
    close(fd);
    return st;
}
