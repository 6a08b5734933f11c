/* The test harness itself: a test that made no check must fail (it proved
 * nothing), and one that made checks reports them. */
#include <stdio.h>

#include "test_util.h"

int main(void) {
    const int none = mbt_finish(); /* no check yet: a failure */
    printf("(the failure above is expected)\n");
    CHECK_EQ_INT(none, 1);
    return mbt_finish();
}
