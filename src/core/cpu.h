/* What the CPU running this process can execute, detected once. A feature
 * counts only when both the CPU has it and the OS saves its register state
 * on context switch (XGETBV), or an AVX instruction would fault even on a
 * CPU that advertises it. */
#ifndef MB_CORE_CPU_H
#define MB_CORE_CPU_H

typedef struct {
    int avx2, fma, f16c, bmi2;                 /* the "avx2" level */
    int avx512f, avx512bw, avx512vl, avx512dq; /* the "avx512" level (Skylake-X) */
    int avx512vnni;  /* "avx512-vnni": VPDPBUSD for the 8-bit dots (Cascade/Ice Lake) */
    int avx512bf16;  /* "avx512-bf16": also VDPBF16PS for the BF16 dot (Cooper Lake, Zen 4) */
    int avx512vbmi2; /* VBMI and VBMI2 (VPERMT2B, VPEXPANDB) for the sparse dots
                      (Ice Lake, Zen 4); not a level */
    int neon, neon_dotprod; /* aarch64: AdvSIMD ("neon"), SDOT/UDOT (HWCAP_ASIMDDP) */
    int intel; /* x86 vendor "GenuineIntel": decode's row prefetch (kernels/prefetch.h) */
} mb_cpu_features;

/* The features of this CPU (x86: CPUID; aarch64: the kernel's HWCAP, which
 * already accounts for what the OS enables). Thread-safe. */
const mb_cpu_features *mb_cpu_get(void);

/* Whether this CPU runs kernel level NAME: "ref" (always), "avx2", "avx512"
 * (F/BW/VL/DQ), "avx512-vnni" (+VNNI), "avx512-bf16" (+VNNI+BF16), "neon",
 * "neon-dotprod". Each level needs every feature of the ones before it on
 * its architecture. 0 for an unknown name. */
int mb_cpu_has_level(const char *name);

/* The best kernel level the CPU supports: "avx512-bf16", "avx512-vnni",
 * "avx512", "avx2", "neon-dotprod", "neon" or "ref". */
const char *mb_cpu_best_level(void);

/* The number of big cores under SYSFS_CPU (normally "/sys/devices/system/cpu",
 * a fake tree in tests): the online cpuN whose cpu_capacity (or, without it,
 * cpufreq/cpuinfo_max_freq) is the highest. On a homogeneous CPU that is every
 * core. 0 when neither file can be read for any CPU. */
int mb_cpu_big_cores(const char *sysfs_cpu);

/* The first integer in the file DIR/cpuN/REL (N = CPU), or -1 when it
 * cannot be read: how the topology and capacity files are read. */
long mb_cpu_sysfs_long(const char *dir, int cpu, const char *rel);

/* The physical cores among the CPUs marked in ALLOWED[0..N) (an affinity
 * mask): distinct (physical_package_id, core_id) of SYSFS_CPU/cpuN/topology,
 * or the number of marked CPUs where that cannot be read. */
int mb_cpu_physical_cores(const char *sysfs_cpu, const unsigned char *allowed, int n);

/* The CPU quota of this process's cgroups, in whole CPUs (rounded up): the
 * tightest ceil(quota / period) over the cgroups that PROC_CGROUP (the
 * format of /proc/self/cgroup) names and their parents, read under
 * CGROUP_ROOT (normally /sys/fs/cgroup): v2 cpu.max ("max 100000" is no
 * limit, "200000 100000" two CPUs), v1 cpu.cfs_quota_us and
 * cpu.cfs_period_us of the hierarchy with the cpu controller (quota -1: no
 * limit). 0 when there is no limit or nothing can be read. */
int mb_cpu_quota(const char *proc_cgroup, const char *cgroup_root);

/* The default thread count from those trees: min(physical cores among the
 * allowed CPUs (ARM: big cores, at most the allowed CPUs), quota), >= 1.
 * mb_physical_cores() is this with the real files and sched_getaffinity. */
int mb_cpu_default_threads(const char *sysfs_cpu, const char *proc_cgroup, const char *cgroup_root,
                           const unsigned char *allowed, int n);

#endif
