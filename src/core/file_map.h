/* A read-only view of a whole file: mmap'ed, or read into anonymous memory. */
#ifndef MB_CORE_FILE_MAP_H
#define MB_CORE_FILE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "matchbox.h"

typedef struct {
    const uint8_t *data;
    uint64_t size;
    int is_mmap; /* 1: munmap on close; 0: free on close */
    int locked;
} mb_file_map;

/* Map PATH. use_mmap 1 maps the page cache; 0 reads the file into anonymous
 * memory with transparent huge pages advised, which decodes faster where
 * kernels walking 4 KiB page-cache pages miss the TLB (docs/PERFORMANCE.md);
 * -1 chooses: anonymous memory when mb_file_map_fits_in_ram() says so, the
 * map otherwise. map->is_mmap says which was used. */
mb_status mb_file_map_open(mb_file_map *map, const char *path, int use_mmap, int use_mlock);

/* True if SIZE bytes read into anonymous memory leave headroom (1 GiB plus an
 * eighth of SIZE, for the KV cache and buffers) out of AVAILABLE bytes. */
int mb_file_map_fits_in_ram(uint64_t size, uint64_t available);
void mb_file_map_close(mb_file_map *map);

/* Bytes of RAM the kernel says are available (MemAvailable), 0 if unknown. */
uint64_t mb_mem_available(void);

#endif
