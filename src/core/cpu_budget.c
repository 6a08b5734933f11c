/* How many threads this process should run by default: its physical cores,
 * but only those it may run on (sched_getaffinity: taskset, cpusets) and no
 * more than its cgroup's CPU quota allows (containers: docker --cpus,
 * Kubernetes limits). Threads beyond the quota do not add throughput: the
 * cgroup is throttled for the rest of each period once its time is spent,
 * and a matmul split over more threads than run at once waits for the
 * descheduled ones. The file roots are parameters so tests can use fake
 * trees. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/threadpool.h"

/* Physical cores among the allowed CPUs: distinct (package, core) pairs of
 * SYSFS_CPU/cpuN/topology; where that is unreadable, each CPU counts. */
int mb_cpu_physical_cores(const char *sysfs_cpu, const unsigned char *allowed, int n) {
    enum { MAX_PAIRS = 1024 };
    long(*pairs)[2] = malloc(MAX_PAIRS * sizeof *pairs);
    int n_pairs = 0, n_cpus = 0, readable = pairs != NULL;
    for (int cpu = 0; cpu < n; cpu++) {
        if (!allowed[cpu]) continue;
        n_cpus++;
        long ids[2] = {0, 0};
        const char *names[2] = {"topology/physical_package_id", "topology/core_id"};
        for (int k = 0; k < 2 && readable; k++)
            if ((ids[k] = mb_cpu_sysfs_long(sysfs_cpu, cpu, names[k])) < 0) readable = 0;
        if (!readable || n_pairs == MAX_PAIRS) continue;
        int dup = 0;
        for (int i = 0; i < n_pairs && !dup; i++)
            dup = pairs[i][0] == ids[0] && pairs[i][1] == ids[1];
        if (!dup) pairs[n_pairs][0] = ids[0], pairs[n_pairs][1] = ids[1], n_pairs++;
    }
    free(pairs);
    return readable ? n_pairs : n_cpus;
}

/* The two numbers of FILE ("max 100000" gives -1 and 100000); 0 if absent. */
static int read_pair(const char *path, long *a, long *b) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char first[32] = {0};
    int ok = fscanf(f, "%31s %ld", first, b) == 2;
    fclose(f);
    if (!ok) return 0;
    *a = strcmp(first, "max") == 0 ? -1 : strtol(first, NULL, 10);
    return 1;
}

static long read_long(const char *path) {
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f && fscanf(f, "%ld", &v) != 1) v = -1;
    if (f) fclose(f);
    return v;
}

/* CPUs' worth of the limit in DIR (ceil(quota / period)), or 0 for none. */
static long dir_limit(const char *dir, int v2) {
    char path[1024 + 32]; /* DIR (walk_up's, < 1024) and a file name */
    long quota = -1, period = 0;
    if (v2) {
        snprintf(path, sizeof path, "%s/cpu.max", dir);
        if (!read_pair(path, &quota, &period)) return 0;
    } else {
        snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
        quota = read_long(path);
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        period = read_long(path);
    }
    if (quota <= 0 || period <= 0) return 0;
    return (quota + period - 1) / period;
}

/* The tightest limit from MOUNT + CG up to MOUNT (a parent's quota bounds
 * its children's; inside a container the cgroup file system's root is
 * often the container's own cgroup, whatever /proc/self/cgroup says). */
static long walk_up(const char *mount, const char *cg, int v2) {
    char dir[1024];
    if (snprintf(dir, sizeof dir, "%s%s", mount, cg) >= (int)sizeof dir) return 0;
    const size_t root_len = strlen(mount);
    long best = 0;
    for (;;) {
        const long l = dir_limit(dir, v2);
        if (l > 0 && (best == 0 || l < best)) best = l;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < root_len) break;
        *slash = '\0';
    }
    return best;
}

int mb_cpu_quota(const char *proc_cgroup, const char *cgroup_root) {
    FILE *f = fopen(proc_cgroup, "r");
    if (!f) return 0;
    char line[2048];
    long best = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        /* "ID:CONTROLLERS:PATH"; v2's unified line is "0::PATH". */
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *cg = c2 + 1;
        if (strcmp(cg, "/") == 0) cg = "";
        char mount[1024];
        long l = 0;
        if (!*ctrls) {
            l = walk_up(cgroup_root, cg, 1);
        } else {
            /* v1: the hierarchy that has the cpu controller, mounted as its
             * controller list ("cpu,cpuacct") or as "cpu". */
            char list[256];
            snprintf(list, sizeof list, ",%s,", ctrls);
            if (!strstr(list, ",cpu,")) continue;
            snprintf(mount, sizeof mount, "%s/%s", cgroup_root, ctrls);
            l = walk_up(mount, cg, 0);
            if (!l) {
                snprintf(mount, sizeof mount, "%s/cpu", cgroup_root);
                l = walk_up(mount, cg, 0);
            }
        }
        if (l > 0 && (best == 0 || l < best)) best = l;
    }
    fclose(f);
    return best > 1 << 20 ? 1 << 20 : (int)best;
}

int mb_cpu_default_threads(const char *sysfs_cpu, const char *proc_cgroup, const char *cgroup_root,
                           const unsigned char *allowed, int n) {
    int cores = 0;
#if defined(__aarch64__) || defined(__arm__)
    /* big.LITTLE: only the big cores (docs/PERFORMANCE.md, "ARM"), and no
     * more than the CPUs allowed. */
    cores = mb_cpu_big_cores(sysfs_cpu);
    int n_allowed = 0;
    for (int i = 0; i < n; i++)
        n_allowed += allowed[i] != 0;
    if (cores > n_allowed) cores = n_allowed;
#endif
    if (cores <= 0) cores = mb_cpu_physical_cores(sysfs_cpu, allowed, n);
    const int quota = mb_cpu_quota(proc_cgroup, cgroup_root);
    if (quota > 0 && quota < cores) cores = quota;
    return cores > 0 ? cores : 1;
}

int mb_physical_cores(void) {
    cpu_set_t set;
    unsigned char allowed[CPU_SETSIZE];
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int i = 0; i < CPU_SETSIZE; i++)
            allowed[i] = CPU_ISSET(i, &set) != 0;
        n = CPU_SETSIZE;
    } else {
        /* No mask: every online CPU. */
        const long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 && online < CPU_SETSIZE ? (int)online : 1;
        memset(allowed, 1, (size_t)n);
    }
    return mb_cpu_default_threads("/sys/devices/system/cpu", "/proc/self/cgroup", "/sys/fs/cgroup",
                                  allowed, n);
}
