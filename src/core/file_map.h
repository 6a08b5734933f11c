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

/* Map PATH. use_mmap 0 reads it into anonymous memory (with transparent huge
 * pages advised), which decodes faster on machines whose kernels walk 4 KiB
 * page-cache pages badly. */
mb_status mb_file_map_open(mb_file_map *map, const char *path, int use_mmap, int use_mlock);
void mb_file_map_close(mb_file_map *map);

/* Bytes of RAM the kernel says are available (MemAvailable), 0 if unknown. */
uint64_t mb_mem_available(void);

#endif
