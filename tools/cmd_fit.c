/* matchbox fit MODEL: will it run here, and how? The memory plan of a
 * configuration from the file's header and tensor table alone (matchbox/fit.h),
 * the decode speed the measured memory bandwidth allows, one screen. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "matchbox/eval.h"
#include "matchbox/fit.h"
#include "options.h"
#include "matchbox.h"

/* -m, --mmap/--no-mmap, -c, --swa-full, -t from the shared table. */
#define FIT_FLAGS (CLI_MODEL | CLI_CONTEXT | CLI_CACHE | CLI_THREADS)

static void fit_usage(FILE *f) {
    fputs("usage: matchbox fit MODEL [-c N] [--ram SIZE] [--slots N] [--kv-type T] [options]\n"
          "\n"
          "Say whether MODEL runs here and how, from its metadata and tensor table alone\n"
          "(the weights are not read): where the weights live, the KV cache, the predicted\n"
          "peak memory part by part, the context that fits, the expected decode speed.\n"
          "run, chat and serve refuse a configuration that does not fit with the same plan.\n"
          "\n"
          "  --ram SIZE              memory to plan for (default: MemAvailable now);\n"
          "                          SIZE is bytes or a number with K, M, G or T (1024s)\n"
          "  --slots N               server slots, each with its own cache (default 1)\n"
          "  --bandwidth GBPS        memory read bandwidth for the speed (default: measured\n"
          "                          in about 0.2 s with bench's STREAM-like test; 0: none)\n"
          "  --disk-bandwidth GBPS   storage read bandwidth for streamed weights (default 1)\n"
          "  --json                  print the plan as JSON\n",
          f);
    cli_opts_help(f, FIT_FLAGS);
}

static const char *kv_name(int t) {
    return t == 8 ? "q8_0" : t == 2 ? "q4_0" : "f16";
}

typedef struct {
    cli_opts c;
    mb_fit_params fp;
    int json, bw_given;
} fit_opts;

static int parse(int argc, char **argv, fit_opts *o, int *rc) {
    *rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int r = cli_opts_flag(&o->c, FIT_FLAGS, argc, argv, &i);
        if (r < 0) return 0;
        if (r > 0) continue;
#define VALUE() ((v = cli_value(argc, argv, &i)) != NULL)
        long n = 0;
        double d = 0;
        unsigned long long size = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fit_usage(stdout);
            *rc = 0;
            return 0;
        } else if (!strcmp(a, "--ram")) {
            if (!VALUE() || !cli_size(a, v, &size)) return 0;
            o->fp.ram = size;
            if (!o->fp.ram) return cli_fail("--ram: 0 bytes"), 0;
        } else if (!strcmp(a, "--slots")) {
            if (!VALUE() || !cli_int(a, v, 1, 256, &n)) return 0;
            o->fp.n_slots = (int)n;
        } else if (!strcmp(a, "--bandwidth")) {
            if (!VALUE() || !cli_float_in(a, v, 0, 1e6, 0, "0 or more", &d)) return 0;
            o->fp.mem_gbs = d;
            o->bw_given = 1;
        } else if (!strcmp(a, "--disk-bandwidth")) {
            if (!VALUE() || !cli_float_in(a, v, 0, 1e6, 1, "more than 0", &d)) return 0;
            o->fp.disk_gbs = d;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (a[0] == '-' && a[1]) {
            cli_fail("fit: unknown option '%s' (see matchbox fit --help)", a);
            return 0;
        } else if (!o->c.model) {
            o->c.model = a;
        } else {
            cli_fail("fit: one model only ('%s' and '%s')", o->c.model, a);
            return 0;
        }
#undef VALUE
    }
    if (!o->c.model) return cli_fail("fit: no model (matchbox fit MODEL)"), 0;
    return 1;
}

static double mib(uint64_t b) {
    return (double)b / (1 << 20);
}

/* S as a JSON string. */
static void put_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const fit_opts *o, const mb_fit_result *r, const char *verdict,
                       const char *suggest) {
    printf("{\n  \"model\": ");
    put_str(o->c.model);
    printf(",\n  \"arch\": ");
    put_str(r->arch);
    printf(",\n");
    printf("  \"n_ctx\": %d,\n  \"n_batch\": %d,\n  \"n_threads\": %d,\n  \"n_slots\": %d,\n",
           r->n_ctx, r->n_batch, r->n_threads, r->n_slots);
    printf("  \"kv_type_k\": \"%s\",\n  \"kv_type_v\": \"%s\",\n", kv_name(r->kv_type_k),
           kv_name(r->kv_type_v));
    static const char *modes[] = {"memory", "mmap", "streamed"};
    printf("  \"weights_mode\": \"%s\",\n", modes[r->weights_mode]);
    const struct {
        const char *k;
        uint64_t v;
    } f[] = {{"file_bytes", r->file_bytes},
             {"weight_bytes", r->weight_bytes},
             {"weights", r->weights},
             {"ring", r->ring},
             {"vocab", r->vocab},
             {"runtime", r->runtime},
             {"batch", r->batch},
             {"kv", r->kv},
             {"activations", r->activations},
             {"logits", r->logits},
             {"threads", r->threads},
             {"per_slot", r->per_slot},
             {"total", r->total},
             {"ram", r->ram},
             {"kv_per_token", r->kv_per_token},
             {"read_per_token", r->read_per_token},
             {"stream_per_token", r->stream_per_token},
             {"fit_budget", r->fit_budget}};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        printf("  \"%s\": %llu,\n", f[i].k, (unsigned long long)f[i].v);
    printf("  \"fits\": %s,\n  \"max_ctx\": %d,\n  \"max_slots\": %d,\n",
           r->fits ? "true" : "false", r->max_ctx, r->max_slots);
    printf("  \"bandwidth_gb_s\": %.3f,\n  \"tok_s\": %.3f,\n  \"tok_s_full\": %.3f,\n",
           o->fp.mem_gbs, r->tok_s, r->tok_s_full);
    printf("  \"suggest\": ");
    put_str(suggest);
    printf(",\n  \"verdict\": ");
    put_str(verdict);
    printf("\n}\n");
}

static void print_screen(const fit_opts *o, const mb_fit_result *r, const char *verdict) {
    static const char *modes[] = {"the file read into memory", "mapped: the pages decode reads",
                                  "streamed: the budget"};
    printf("model     %s: %s, %d layers, dim %d, %d/%d heads, vocab %d, trained context %d\n",
           o->c.model, r->arch, r->n_layer, r->n_embd, r->n_head, r->n_head_kv, r->n_vocab,
           r->n_ctx_train);
    printf("file      %.1f MiB, weights %.1f MiB, largest layer %.1f MiB\n", mib(r->file_bytes),
           mib(r->weight_bytes), mib(r->layer_bytes_max));
    printf("config    context %d (prefill chunk %d), %d thread%s, %d slot%s, KV %s/%s\n", r->n_ctx,
           r->n_batch, r->n_threads, r->n_threads == 1 ? "" : "s", r->n_slots,
           r->n_slots == 1 ? "" : "s", kv_name(r->kv_type_k), kv_name(r->kv_type_v));
    printf("\npredicted peak memory             MiB\n");
    printf("  weights                  %10.1f   %s\n", mib(r->weights), modes[r->weights_mode]);
    if (r->ring)
        printf("  layer ring               %10.1f   %d x the largest layer\n", mib(r->ring),
               MB_FIT_RING_LAYERS);
    const char *each = r->n_slots > 1 ? " each" : "";
    printf("  KV cache%-5s            %10.1f   %d positions, %.1f KiB per position\n", each,
           mib(r->kv), r->n_ctx, (double)r->kv_per_token / 1024);
    printf("  activations%-5s         %10.1f   %d-row prefill chunk, attention scratch\n", each,
           mib(r->activations), r->n_batch);
    printf("  logits, sampler%-5s     %10.1f   %d tokens\n", each, mib(r->logits), r->n_vocab);
    printf("  thread scratch%-5s      %10.1f   %d thread%s\n", each, mib(r->threads), r->n_threads,
           r->n_threads == 1 ? "" : "s");
    if (r->n_slots > 1)
        printf("  batched decode           %10.1f   workspace of %d rows\n", mib(r->batch),
               r->n_slots);
    printf("  tokenizer, metadata      %10.1f\n", mib(r->vocab));
    printf("  runtime                  %10.1f   this program, its libraries and tables\n",
           mib(r->runtime));
    printf("  total                    %10.1f   of %.1f available%s\n", mib(r->total), mib(r->ram),
           o->fp.ram ? " (--ram)" : " (MemAvailable)");
    printf("\ncontext   the largest that fits: %d", r->max_ctx);
    if (r->n_slots > 1) printf("; slots that fit at %d: %d", r->n_ctx, r->max_slots);
    printf("\n");
    if (r->tok_s > 0) {
        printf("speed     %.1f GB/s %s; %.1f MiB read per token", o->fp.mem_gbs,
               o->bw_given ? "(--bandwidth)" : "measured", mib(r->read_per_token));
        if (r->stream_per_token)
            printf(" (%.1f MiB from storage at %.1f GB/s)", mib(r->stream_per_token),
                   o->fp.disk_gbs > 0 ? o->fp.disk_gbs : 1.0);
        printf(": ~%.1f tok/s, %.1f at a full context\n", r->tok_s, r->tok_s_full);
    }
    printf("\nverdict   %s\n", verdict);
}

/* A llama2.c checkpoint is not a GGUF: say what to do with it. */
static int not_gguf(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    if (n == 4 && !memcmp(magic, "GGUF", 4)) return 0;
    size_t len = strlen(path);
    if (len < 4 || strcmp(path + len - 4, ".bin") != 0) return 0;
    cli_fail("%s is not a GGUF (a llama2.c checkpoint or tokenizer?): convert the checkpoint "
             "first with 'matchbox convert CHECKPOINT.bin OUT.gguf --tokenizer TOKENIZER.bin', "
             "then fit OUT.gguf",
             path);
    return 1;
}

int cmd_fit(int argc, char **argv) {
    /* Before anything else: the program's own resident size, what a run of
     * this binary starts from. */
    const uint64_t base = cli_proc_status_bytes("VmRSS");
    fit_opts o;
    memset(&o, 0, sizeof o);
    cli_opts_init(&o.c);
    o.fp = mb_fit_default_params();
    int rc = 1;
    if (!parse(argc, argv, &o, &rc)) return rc;
    o.fp.n_ctx = o.c.sp.n_ctx;
    o.fp.n_threads = o.c.sp.n_threads;
    o.fp.swa_full = o.c.sp.swa_full;
    o.fp.mem_budget = o.c.mp.mem_budget; /* --mem-budget, from the shared table */
    o.fp.kv_type_k = (int)o.c.sp.kv_type_k;
    o.fp.kv_type_v = (int)o.c.sp.kv_type_v;
    o.fp.use_mmap = o.c.mp.use_mmap;
    o.fp.base_bytes = base;
    if (not_gguf(o.c.model)) return 1;
    mb_fit_result r;
    /* A first plan for the thread count, then the bandwidth with it. */
    if (mb_fit(o.c.model, &o.fp, &r)) return cli_fail(NULL);
    if (!o.bw_given) {
        uint64_t bytes = 256u << 20;
        if (r.ram / 8 < bytes) bytes = r.ram / 8 > (16u << 20) ? r.ram / 8 : 16u << 20;
        if (mb_bench_read_bandwidth(r.n_threads, bytes, 3, &o.fp.mem_gbs)) return cli_fail(NULL);
        if (mb_fit(o.c.model, &o.fp, &r)) return cli_fail(NULL);
    }
    char verdict[512], suggest[256];
    mb_fit_verdict(&r, verdict, sizeof verdict);
    mb_fit_suggest(&r, suggest, sizeof suggest);
    if (o.json)
        print_json(&o, &r, verdict, suggest);
    else
        print_screen(&o, &r, verdict);
    return 0;
}
