/* The daily token budget (budget.h). The state file is one JSON object,
 * {"day": DAYS_SINCE_EPOCH, "used": TOKENS}. */
#include "agent/budget.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tool_error.h"

struct mb_budget {
    pthread_mutex_t mu;
    long limit, used, day;
    char *path;
};

static long day_of(time_t t) {
    return (long)(t / 86400);
}

static mb_status load(mb_budget *b) {
    FILE *f = fopen(b->path, "rb");
    if (!f) {
        if (errno == ENOENT) return MB_OK;
        return tool_errorf(MB_ERR_IO, "oracle budget state %s: %s", b->path, strerror(errno));
    }
    char text[256];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    const cJSON *day = cJSON_GetObjectItemCaseSensitive(root, "day");
    const cJSON *used = cJSON_GetObjectItemCaseSensitive(root, "used");
    int ok = cJSON_IsNumber(day) && cJSON_IsNumber(used) && used->valuedouble >= 0 &&
             used->valuedouble < 1e15 && day->valuedouble >= 0 && day->valuedouble < 1e9;
    if (ok) {
        b->day = (long)day->valuedouble;
        b->used = (long)used->valuedouble;
    }
    cJSON_Delete(root);
    if (!ok)
        return tool_errorf(MB_ERR_FORMAT,
                         "oracle budget state %s: not {\"day\": N, \"used\": N}; delete it to "
                         "start the count again",
                         b->path);
    return MB_OK;
}

/* Temp file and rename, so a crash leaves the old state or the new one. */
static mb_status save(const mb_budget *b) {
    size_t n = strlen(b->path);
    char *tmp = malloc(n + 32);
    if (!tmp) return tool_errorf(MB_ERR_NO_MEMORY, "oracle budget: out of memory");
    snprintf(tmp, n + 32, "%s.tmp.%ld", b->path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f && fprintf(f, "{\"day\": %ld, \"used\": %ld}\n", b->day, b->used) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, b->path) != 0) ok = 0;
    mb_status st = MB_OK;
    if (!ok) {
        st = tool_errorf(MB_ERR_IO, "oracle budget state %s: %s", b->path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    return st;
}

mb_status mb_budget_new(long tokens_per_day, const char *state_path, mb_budget **out) {
    *out = NULL;
    mb_budget *b = calloc(1, sizeof *b);
    if (!b) return tool_errorf(MB_ERR_NO_MEMORY, "oracle budget: out of memory");
    pthread_mutex_init(&b->mu, NULL);
    b->limit = tokens_per_day;
    b->day = -1;
    if (state_path) {
        b->path = malloc(strlen(state_path) + 1);
        if (!b->path) {
            mb_budget_free(b);
            return tool_errorf(MB_ERR_NO_MEMORY, "oracle budget: out of memory");
        }
        strcpy(b->path, state_path);
        mb_status st = load(b);
        if (st) {
            mb_budget_free(b);
            return st;
        }
    }
    *out = b;
    return MB_OK;
}

void mb_budget_free(mb_budget *b) {
    if (!b) return;
    pthread_mutex_destroy(&b->mu);
    free(b->path);
    free(b);
}

/* Start a new count on a new day. Lock held. */
static void roll(mb_budget *b, time_t now) {
    long d = day_of(now);
    if (d != b->day) {
        b->day = d;
        b->used = 0;
    }
}

int mb_budget_allows(mb_budget *b, long estimate, time_t now) {
    if (!b || b->limit <= 0) return 1;
    pthread_mutex_lock(&b->mu);
    roll(b, now);
    int ok = estimate >= 0 && b->used <= b->limit - estimate;
    pthread_mutex_unlock(&b->mu);
    return ok;
}

mb_status mb_budget_spend(mb_budget *b, long tokens, time_t now) {
    if (!b) return MB_OK;
    pthread_mutex_lock(&b->mu);
    roll(b, now);
    if (tokens > 0) b->used = tokens > (1L << 50) - b->used ? (1L << 50) : b->used + tokens;
    mb_status st = b->path ? save(b) : MB_OK;
    pthread_mutex_unlock(&b->mu);
    return st;
}

long mb_budget_used(mb_budget *b, time_t now) {
    if (!b) return 0;
    pthread_mutex_lock(&b->mu);
    roll(b, now);
    long u = b->used;
    pthread_mutex_unlock(&b->mu);
    return u;
}

long mb_budget_limit(const mb_budget *b) {
    return b ? b->limit : 0;
}
