/* Parameter structs that can grow (matchbox.h, top): the caller's struct
 * starts with its size, and the library reads that many bytes of it over
 * its own defaults. */
#ifndef MB_CORE_PARAMS_H
#define MB_CORE_PARAMS_H

#include <stddef.h>

#include "matchbox.h"

/* The size of TYPE up to and including MEMBER: the struct of the first
 * release, which a caller's struct_size must at least cover. */
#define MB_PARAMS_SIZE_UPTO(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* DST holds the defaults (FULL bytes, struct_size first). Copy the first
 * min(struct_size, FULL) bytes of SRC (NULL: keep the defaults) over it,
 * and set DST's struct_size to FULL. MB_ERR_INVALID_ARG, naming NAME, if
 * SRC's struct_size is below MIN (0: built without its default_params). */
mb_status mb_params_merge(void *dst, const void *src, size_t full, size_t min, const char *name);

#endif
