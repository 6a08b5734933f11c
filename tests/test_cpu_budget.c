/* The default thread count (core/cpu_budget.c) on fake sysfs and cgroup
 * trees: physical cores among the CPUs of an affinity mask (SMT siblings
 * count once), cgroup v2 cpu.max and v1 cfs quota/period rounded up to
 * whole CPUs (the tightest on the way up the hierarchy), the minimum of
 * both; and the real mb_physical_cores() after sched_setaffinity to one
 * CPU (what taskset -c N does) gives 1. */
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cpu.h"
#include "core/threadpool.h"
#include "test_util.h"

/* mkdir -p of PATH's folders, then PATH := TEXT. */
static void put(const char *path, const char *text) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (f) fputs(text, f), fclose(f);
}

/* A short-lived path (a ring of buffers): roots are copied before use. */
static const char *path(const char *fmt, const char *a, const char *b) {
    static char buf[8][1024];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 1024, fmt, a, b);
    return p;
}

/* Eight CPUs: two packages of two cores with two SMT threads each
 * (cpu0/cpu1 share core 0 of package 0, ...). */
static const char *make_sysfs(void) {
    static char root[1024];
    snprintf(root, sizeof root, "%s", path("%s/%s", mbt_tmpdir(), "sys_cpu"));
    for (int c = 0; c < 8; c++) {
        char p[1024 + 64], v[16];
        snprintf(p, sizeof p, "%s/cpu%d/topology/physical_package_id", root, c);
        snprintf(v, sizeof v, "%d\n", c / 4);
        put(p, v);
        snprintf(p, sizeof p, "%s/cpu%d/topology/core_id", root, c);
        snprintf(v, sizeof v, "%d\n", (c / 2) % 2);
        put(p, v);
    }
    return root;
}

static void test_physical_cores(void) {
    char sys[1024];
    snprintf(sys, sizeof sys, "%s", make_sysfs());
    unsigned char all[8] = {1, 1, 1, 1, 1, 1, 1, 1}, one[8] = {0, 0, 0, 1};
    unsigned char siblings[8] = {1, 1}, spread[8] = {1, 0, 1, 0, 0, 1};
    CHECK_EQ_INT(mb_cpu_physical_cores(sys, all, 8), 4);
    CHECK_EQ_INT(mb_cpu_physical_cores(sys, one, 8), 1);
    CHECK_EQ_INT(mb_cpu_physical_cores(sys, siblings, 8), 1);
    CHECK_EQ_INT(mb_cpu_physical_cores(sys, spread, 8), 3);
    /* No topology files: each allowed CPU counts. */
    CHECK_EQ_INT(mb_cpu_physical_cores("/nonexistent/sys/cpu", spread, 8), 3);
}

/* A /proc/self/cgroup file of TEXT; returns its path. */
static const char *proc_cgroup(const char *name, const char *text) {
    const char *p = path("%s/%s.cgroup", mbt_tmpdir(), name);
    put(p, text);
    return p;
}

static void test_quota_v2(void) {
    char root[1024];
    snprintf(root, sizeof root, "%s", path("%s/%s", mbt_tmpdir(), "cg2"));
    char self[1024];
    snprintf(self, sizeof self, "%s", proc_cgroup("v2", "0::/system.slice/app.service\n"));
    /* No cpu.max anywhere: no limit. */
    CHECK_EQ_INT(mb_cpu_quota(self, root), 0);
    put(path("%s/%s", root, "system.slice/app.service/cpu.max"), "max 100000\n");
    CHECK_EQ_INT(mb_cpu_quota(self, root), 0);
    /* A parent's 1.5 CPUs bound the child: rounded up to 2. */
    put(path("%s/%s", root, "system.slice/cpu.max"), "150000 100000\n");
    CHECK_EQ_INT(mb_cpu_quota(self, root), 2);
    /* The child's own, tighter limit wins. */
    put(path("%s/%s", root, "system.slice/app.service/cpu.max"), "50000 100000\n");
    CHECK_EQ_INT(mb_cpu_quota(self, root), 1);
    /* A container: its own cgroup is the mount's root ("0::/"). */
    char croot[1024];
    snprintf(croot, sizeof croot, "%s", path("%s/%s", mbt_tmpdir(), "cg2c"));
    put(path("%s/%s", croot, "cpu.max"), "300000 100000\n");
    CHECK_EQ_INT(mb_cpu_quota(proc_cgroup("v2c", "0::/\n"), croot), 3);
    CHECK_EQ_INT(mb_cpu_quota("/nonexistent/proc/cgroup", croot), 0);
}

static void test_quota_v1(void) {
    char root[1024];
    snprintf(root, sizeof root, "%s", path("%s/%s", mbt_tmpdir(), "cg1"));
    const char *self =
        proc_cgroup("v1", "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/docker/abc\n");
    put(path("%s/%s", root, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us"), "-1\n");
    put(path("%s/%s", root, "cpu,cpuacct/docker/abc/cpu.cfs_period_us"), "100000\n");
    CHECK_EQ_INT(mb_cpu_quota(self, root), 0);
    put(path("%s/%s", root, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us"), "250000\n");
    CHECK_EQ_INT(mb_cpu_quota(self, root), 3);
    /* Only the memory hierarchy limits: it does not count. */
    char mem[1024];
    snprintf(mem, sizeof mem, "%s", proc_cgroup("v1m", "5:memory:/docker/abc\n"));
    put(path("%s/%s", root, "memory/docker/abc/cpu.cfs_quota_us"), "100000\n");
    put(path("%s/%s", root, "memory/docker/abc/cpu.cfs_period_us"), "100000\n");
    CHECK_EQ_INT(mb_cpu_quota(mem, root), 0);
    /* The cpu hierarchy mounted as "cpu" (the controller list's folder absent). */
    char r2[1024];
    snprintf(r2, sizeof r2, "%s", path("%s/%s", mbt_tmpdir(), "cg1b"));
    put(path("%s/%s", r2, "cpu/cpu.cfs_quota_us"), "100000\n");
    put(path("%s/%s", r2, "cpu/cpu.cfs_period_us"), "100000\n");
    CHECK_EQ_INT(mb_cpu_quota(proc_cgroup("v1b", "2:cpu,cpuacct:/\n"), r2), 1);
}

static void test_default_threads(void) {
    char sys[1024];
    snprintf(sys, sizeof sys, "%s", make_sysfs());
    unsigned char all[8] = {1, 1, 1, 1, 1, 1, 1, 1}, two[8] = {1, 0, 1};
    char root[1024];
    snprintf(root, sizeof root, "%s", path("%s/%s", mbt_tmpdir(), "cgd"));
    char self[1024];
    snprintf(self, sizeof self, "%s", proc_cgroup("d", "0::/\n"));
    /* No quota: the cores of the mask. */
    CHECK_EQ_INT(mb_cpu_default_threads(sys, self, root, all, 8), 4);
    CHECK_EQ_INT(mb_cpu_default_threads(sys, self, root, two, 8), 2);
    /* A quota of 2.5 CPUs: 3 threads of 4 cores, still 2 of a 2-core mask. */
    put(path("%s/%s", root, "cpu.max"), "250000 100000\n");
    CHECK_EQ_INT(mb_cpu_default_threads(sys, self, root, all, 8), 3);
    CHECK_EQ_INT(mb_cpu_default_threads(sys, self, root, two, 8), 2);
    /* A tenth of a CPU: one thread. */
    put(path("%s/%s", root, "cpu.max"), "10000 100000\n");
    CHECK_EQ_INT(mb_cpu_default_threads(sys, self, root, all, 8), 1);
}

/* The real files: pinned to one CPU the default is one thread. */
static void test_affinity(void) {
    cpu_set_t old, one;
    CHECK(sched_getaffinity(0, sizeof old, &old) == 0);
    const int before = mb_physical_cores();
    CHECK(before >= 1 && before <= CPU_COUNT(&old));
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &old))
        first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
    CHECK_EQ_INT(mb_physical_cores(), 1);
    CHECK(sched_setaffinity(0, sizeof old, &old) == 0);
    CHECK_EQ_INT(mb_physical_cores(), before);
    printf("default threads: %d (1 pinned to cpu%d)\n", before, first);
}

int main(void) {
    test_physical_cores();
    test_quota_v2();
    test_quota_v1();
    test_default_threads();
    test_affinity();
    return mbt_finish();
}
