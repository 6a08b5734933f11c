/* Public functions of the core layer that have no other home: the version
 * of the library running and the core count apps size their threads by. */
#include "matchbox.h"
#include "threadpool.h"

const char *mb_version(void) {
    return MB_VERSION;
}

int mb_n_physical_cores(void) {
    return mb_physical_cores();
}
