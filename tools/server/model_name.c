/* The model names a single-model server answers to (docs/SERVER.md,
 * "Model names"). */
#include <string.h>

#include "server/http_internal.h"

/* NAME is ID, or ID followed by ".gguf". */
static int same_model(const char *name, const char *id) {
    if (!id) return 0;
    const size_t n = strlen(id);
    return !strncmp(name, id, n) && (!name[n] || !strcmp(name + n, ".gguf"));
}

int mb_server_model_matches(const mb_server *s, const char *name) {
    /* Clients written for another server send its model's name; one model
     * is served, so by default every name means it. */
    if (!s->p.strict_model_name) return 1;
    return same_model(name, s->p.model_id) || same_model(name, s->p.model_file);
}
