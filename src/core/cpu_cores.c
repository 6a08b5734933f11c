/* Big-core detection for big.LITTLE (and DynamIQ) ARM systems. Linux gives
 * each CPU a cpu_capacity (1024 for the fastest kind, less for the little
 * ones); older kernels only have cpufreq's maximum frequency, which orders
 * the clusters the same way. A matmul split evenly over big and little cores
 * waits for the little ones, so the default thread count is the big cores. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"

long mb_cpu_sysfs_long(const char *dir, int cpu, const char *rel) {
    char path[512];
    if (snprintf(path, sizeof path, "%s/cpu%d/%s", dir, cpu, rel) >= (int)sizeof path) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1) v = -1;
    fclose(f);
    return v;
}

/* Offline CPUs have online = 0; cpu0 often has no such file (it cannot go
 * offline), which counts as online. */
static int cpu_online(const char *dir, int cpu) {
    return mb_cpu_sysfs_long(dir, cpu, "online") != 0;
}

/* Count the online CPUs with the highest value of REL; 0 if none has it. */
static int count_top(const char *dir, const int *cpus, int n, const char *rel) {
    long best = -1;
    int count = 0;
    for (int i = 0; i < n; i++) {
        const long v = mb_cpu_sysfs_long(dir, cpus[i], rel);
        if (v < 0) continue;
        if (v > best) {
            best = v;
            count = 0;
        }
        if (v == best) count++;
    }
    return count;
}

int mb_cpu_big_cores(const char *sysfs_cpu) {
    DIR *d = opendir(sysfs_cpu);
    if (!d) return 0;
    enum { MAX_CPUS = 4096 };
    int *cpus = malloc(MAX_CPUS * sizeof *cpus);
    int n = 0;
    struct dirent *e;
    while (cpus && n < MAX_CPUS && (e = readdir(d)) != NULL) {
        int cpu;
        char tail;
        /* "cpu12" but not "cpufreq" or "cpuidle". */
        if (sscanf(e->d_name, "cpu%d%c", &cpu, &tail) != 1 || cpu < 0) continue;
        if (cpu_online(sysfs_cpu, cpu)) cpus[n++] = cpu;
    }
    closedir(d);
    int big = 0;
    if (cpus) {
        big = count_top(sysfs_cpu, cpus, n, "cpu_capacity");
        if (big == 0) big = count_top(sysfs_cpu, cpus, n, "cpufreq/cpuinfo_max_freq");
    }
    free(cpus);
    return big;
}
