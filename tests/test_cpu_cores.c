/* Big-core detection (mb_cpu_big_cores) on fake sysfs trees: the online CPUs
 * with the highest cpu_capacity, or cpufreq's max frequency without it. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cpu.h"
#include "test_util.h"

/* DIR/cpuN/REL := VALUE, creating the folders. */
static void put(const char *dir, int cpu, const char *rel, const char *value) {
    char path[512];
    snprintf(path, sizeof path, "%s/cpu%d", dir, cpu);
    mkdir(dir, 0755);
    mkdir(path, 0755);
    if (strncmp(rel, "cpufreq/", 8) == 0) {
        snprintf(path, sizeof path, "%s/cpu%d/cpufreq", dir, cpu);
        mkdir(path, 0755);
    }
    snprintf(path, sizeof path, "%s/cpu%d/%s", dir, cpu, rel);
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (f) fprintf(f, "%s\n", value), fclose(f);
}

static const char *tree(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", mbt_tmpdir(), name);
    mkdir(buf, 0755);
    return buf;
}

/* Four little (capacity 446) and four big (1024) cores, as on an RK3588's
 * A55 + A76 clusters; sysfs's other cpu* entries are not CPUs. */
static void test_big_little_capacity(void) {
    const char *d = tree("rk3588");
    for (int c = 0; c < 8; c++)
        put(d, c, "cpu_capacity", c < 4 ? "446" : "1024");
    char extra[600];
    snprintf(extra, sizeof extra, "%s/cpufreq", d), mkdir(extra, 0755);
    snprintf(extra, sizeof extra, "%s/cpuidle", d), mkdir(extra, 0755);
    CHECK_EQ_INT(mb_cpu_big_cores(d), 4);
}

/* Three tiers (1 prime, 3 big, 4 little): only the fastest count. */
static void test_three_tiers(void) {
    const char *d = tree("tiers");
    const char *cap[8] = {"300", "300", "300", "300", "870", "870", "870", "1024"};
    for (int c = 0; c < 8; c++)
        put(d, c, "cpu_capacity", cap[c]);
    CHECK_EQ_INT(mb_cpu_big_cores(d), 1);
}

/* No cpu_capacity: cpufreq's max frequency orders the clusters. */
static void test_cpufreq_fallback(void) {
    const char *d = tree("freq");
    for (int c = 0; c < 6; c++)
        put(d, c, "cpufreq/cpuinfo_max_freq", c < 2 ? "1800000" : "1416000");
    CHECK_EQ_INT(mb_cpu_big_cores(d), 2);
}

/* A homogeneous CPU (a Raspberry Pi 4): every core is "big". */
static void test_homogeneous(void) {
    const char *d = tree("pi4");
    for (int c = 0; c < 4; c++)
        put(d, c, "cpu_capacity", "1024");
    CHECK_EQ_INT(mb_cpu_big_cores(d), 4);
}

/* An offline big core is not counted; cpu0 has no online file. */
static void test_offline(void) {
    const char *d = tree("offline");
    for (int c = 0; c < 4; c++)
        put(d, c, "cpu_capacity", c < 2 ? "512" : "1024");
    for (int c = 1; c < 4; c++)
        put(d, c, "online", c == 3 ? "0" : "1");
    CHECK_EQ_INT(mb_cpu_big_cores(d), 1);
}

/* Nothing to go by: 0, and the caller keeps its own count. */
static void test_unknown(void) {
    const char *d = tree("bare");
    char path[600];
    snprintf(path, sizeof path, "%s/cpu0", d), mkdir(path, 0755);
    CHECK_EQ_INT(mb_cpu_big_cores(d), 0);
    CHECK_EQ_INT(mb_cpu_big_cores("/nonexistent/sysfs/cpu"), 0);
}

int main(void) {
    test_big_little_capacity();
    test_three_tiers();
    test_cpufreq_fallback();
    test_homogeneous();
    test_offline();
    test_unknown();
    return mbt_finish();
}
