#include "core/params.h"

#include <string.h>

#include "core/error.h"

mb_status mb_params_merge(void *dst, const void *src, size_t full, size_t min, const char *name) {
    if (!src) return MB_OK;
    size_t size;
    memcpy(&size, src, sizeof size);
    if (size < min) {
        /* "mb_session_params" is made by "mb_session_default_params()". */
        const size_t stem = strlen(name) - strlen("_params");
        return mb_errorf(MB_ERR_INVALID_ARG,
                         "%s.struct_size is %zu, less than the %zu bytes of its first version: "
                         "start from %.*s_default_params()",
                         name, size, min, (int)stem, name);
    }
    memcpy(dst, src, size < full ? size : full);
    memcpy(dst, &full, sizeof full);
    return MB_OK;
}
