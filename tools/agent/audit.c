/* The audit log (audit.h). */
#include "agent/audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tool_error.h"

struct mb_audit {
    pthread_mutex_t mu;
    int fd;
    char path[512];
};

mb_status mb_audit_open(const char *path, mb_audit **out) {
    *out = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return tool_errorf(MB_ERR_IO, "audit log %s: %s", path, strerror(errno));
    mb_audit *a = calloc(1, sizeof *a);
    if (!a) {
        close(fd);
        return tool_errorf(MB_ERR_NO_MEMORY, "audit log: out of memory");
    }
    pthread_mutex_init(&a->mu, NULL);
    a->fd = fd;
    strncpy(a->path, path, sizeof a->path - 1);
    *out = a;
    return MB_OK;
}

void mb_audit_close(mb_audit *a) {
    if (!a) return;
    close(a->fd);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static void add_count(cJSON *o, const char *name, int v) {
    if (v >= 0)
        cJSON_AddNumberToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

mb_status mb_audit_write(mb_audit *a, const mb_audit_entry *e) {
    if (!a) return MB_OK;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "time", when);
    cJSON_AddStringToObject(root, "answered_by", e->answered_by ? e->answered_by : "");
    cJSON_AddStringToObject(root, "reason", e->reason ? e->reason : "");
    cJSON_AddNumberToObject(root, "redactions", e->redactions);
    if (e->sent && e->n_sent > 0) {
        cJSON_AddStringToObject(root, "url", e->url ? e->url : "");
        cJSON_AddStringToObject(root, "model", e->model ? e->model : "");
        cJSON *arr = cJSON_AddArrayToObject(root, "sent");
        for (int i = 0; i < e->n_sent; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", e->sent[i].role);
            cJSON_AddStringToObject(m, "content", e->sent[i].content ? e->sent[i].content : "");
            cJSON_AddItemToArray(arr, m);
        }
    } else {
        cJSON_AddNullToObject(root, "sent");
    }
    add_count(root, "prompt_tokens", e->prompt_tokens);
    add_count(root, "completion_tokens", e->completion_tokens);
    if (e->error) cJSON_AddStringToObject(root, "error", e->error);
    cJSON_AddNumberToObject(root, "seconds", (double)(long)(e->seconds * 1000) / 1000);
    char *line = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!line) return tool_errorf(MB_ERR_NO_MEMORY, "audit log %s: out of memory", a->path);
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL; the length is kept in n + 1 */
    pthread_mutex_lock(&a->mu);
    ssize_t w = write(a->fd, line, n + 1);
    pthread_mutex_unlock(&a->mu);
    free(line);
    if (w != (ssize_t)(n + 1))
        return tool_errorf(MB_ERR_IO, "audit log %s: %s", a->path,
                         w < 0 ? strerror(errno) : "short write");
    return MB_OK;
}
