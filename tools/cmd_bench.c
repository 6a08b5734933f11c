/* matchbox bench MODEL: prefill and decode speed, time to first token, load
 * time, peak RSS and decode's share of the read bandwidth measured in the
 * same run, as a table or JSON. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "options.h"
#include "matchbox/eval.h"

/* The shared flags bench takes (options.h). */
#define BENCH_FLAGS (CLI_THREADS | CLI_CACHE | CLI_BUDGET)

static void bench_usage(FILE *f) {
    fputs("usage: matchbox bench [MODEL] [options]\n"
          "\n"
          "Measure prefill (pp: -p tokens in one batch) and decode (tg: -n tokens one\n"
          "at a time), both from an empty cache, -r times each; report the median and\n"
          "the range, and decode's share of the machine's read bandwidth measured in\n"
          "the same run (weight bytes read per token x tok/s / bandwidth).\n"
          "\n"
          "  -m, --model FILE        model (GGUF)\n"

          "  -p, --n-prompt N        prefill test size (default 512; 0 skips it)\n"
          "  -n, --n-gen N           decode test size (default 128; 0 skips it)\n"
          "  -r, --reps N            repetitions (default 5)\n"
          "  --bw-mib N              bandwidth test buffer in MiB (default 1024; 0 skips it)\n"
          "  -c, --ctx-size N        session context, which sizes the KV cache (default: what\n"
          "                          the tests need); the KV bytes per layer kind are printed\n"

          "  --no-mmap               read the weights into anonymous memory (huge pages)\n"
          "  --mmap                  map the file (default: memory when it fits in RAM)\n"
          "  --no-repack             keep Q4_0, K-quant and SQ4 weights in the file's layout\n"
          "                          (default: reordered in memory for this CPU's kernels,\n"
          "                          as matchbox run does)\n"
          "  --json                  print JSON instead of a table\n",
          f);
    cli_opts_help(f, BENCH_FLAGS);
}

static void put_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void put_json_stat(FILE *f, const char *name, const mb_bench_stat *s) {
    fprintf(f, "  \"%s\": {\"median\": %.6g, \"min\": %.6g, \"max\": %.6g},\n", name, s->median,
            s->min, s->max);
}

static void print_json(FILE *f, const char *path, const mb_bench_result *r) {
    fputs("{\n  \"model\": ", f);
    put_json_str(f, path);
    fputs(",\n  \"desc\": ", f);
    put_json_str(f, r->model_desc);
    fprintf(f,
            ",\n  \"kernels\": \"%s\",\n  \"threads\": %d,\n  \"weights\": \"%s\",\n"
            "  \"n_prompt\": %d,\n  \"n_gen\": %d,\n  \"reps\": %d,\n"
            "  \"load_s\": %.6g,\n",
            r->kernels, r->n_threads, r->uses_mmap ? "mmap" : "anonymous", r->n_prompt, r->n_gen,
            r->reps, r->load_seconds);
    put_json_stat(f, "prefill_tok_s", &r->prefill_tps);
    put_json_stat(f, "decode_tok_s", &r->decode_tps);
    put_json_stat(f, "ttft_s", &r->ttft_seconds);
    fprintf(f,
            "  \"weight_bytes\": %llu,\n  \"bytes_per_token\": %llu,\n  \"peak_rss_bytes\": "
            "%llu,\n  \"read_gb_s\": %.6g,\n  \"decode_gb_s\": %.6g,\n  \"decode_share\": %.6g,\n"
            "  \"n_ctx\": %d,\n  \"kv_bytes\": %llu,\n  \"kv\": ",
            (unsigned long long)r->weight_bytes, (unsigned long long)r->bytes_per_token,
            (unsigned long long)r->peak_rss, r->read_gbs,
            (double)r->bytes_per_token * r->decode_tps.median / 1e9, r->decode_share, r->n_ctx,
            (unsigned long long)r->kv_bytes);
    put_json_str(f, r->kv_desc);
    if (r->stream.budget) {
        fprintf(f,
                ",\n  \"mem_budget\": %llu,\n  \"resident_bytes\": %llu,\n  \"streamed_bytes\": "
                "%llu,\n  \"decode_read_per_token\": %llu,\n  \"expert_hit_rate\": %.6g,\n  "
                "\"plan\": ",
                (unsigned long long)r->stream.budget, (unsigned long long)r->stream.resident_bytes,
                (unsigned long long)r->stream.streamed_bytes,
                (unsigned long long)r->decode_read_per_token, r->decode_expert_hit_rate);
        put_json_str(f, r->stream.plan);
    }
    fputs("\n}\n", f);
}

static void print_table(FILE *f, const char *path, const mb_bench_result *r) {
    fprintf(f, "model     %s\n          %s\n", path, r->model_desc);
    fprintf(f, "setup     kernels %s, %d threads, weights in %s, load %.3f s, peak RSS %.1f MiB\n",
            r->kernels, r->n_threads,
            r->uses_mmap ? "mmap (page cache)" : "anonymous memory (huge pages)", r->load_seconds,
            (double)r->peak_rss / (1 << 20));
    fprintf(f, "kv        %s\n", r->kv_desc);
    if (r->stream.budget) fprintf(f, "budget    %s\n", r->stream.plan);
    fprintf(f, "\n| test | tok/s median | min | max | other |\n|---|--:|--:|--:|---|\n");
    if (r->n_prompt > 0)
        fprintf(f, "| pp%d | %.1f | %.1f | %.1f | TTFT %.1f ms (%.1f-%.1f) |\n", r->n_prompt,
                r->prefill_tps.median, r->prefill_tps.min, r->prefill_tps.max,
                r->ttft_seconds.median * 1e3, r->ttft_seconds.min * 1e3, r->ttft_seconds.max * 1e3);
    if (r->n_gen > 0) {
        double gbs = (double)r->bytes_per_token * r->decode_tps.median / 1e9;
        fprintf(f, "| tg%d | %.1f | %.1f | %.1f | %.2f GB/s", r->n_gen, r->decode_tps.median,
                r->decode_tps.min, r->decode_tps.max, gbs);
        if (r->read_gbs > 0)
            fprintf(f, " = %.1f%% of %.1f GB/s read", r->decode_share * 100, r->read_gbs);
        fputs(" |\n", f);
    }
    fprintf(f, "\n%d repetitions; %.1f MB of weights read per decoded token.\n", r->reps,
            (double)r->bytes_per_token / 1e6);
    if (r->stream.budget && r->n_gen > 0) {
        fprintf(f, "%.1f MB read from the file per decoded token",
                (double)r->decode_read_per_token / 1e6);
        if (r->stream.n_cache_experts)
            fprintf(f, "; expert cache %d of %d experts, hit rate %.1f%%",
                    r->stream.n_cache_experts, r->stream.n_experts,
                    r->decode_expert_hit_rate * 100);
        fputs(".\n", f);
    }
}

int cmd_bench(int argc, char **argv) {
    mb_bench_params p = mb_bench_default_params();
    cli_opts o;
    cli_opts_init(&o);
    const char *model = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long l;
        int r = cli_opts_flag(&o, BENCH_FLAGS, argc, argv, &i);
        if (r < 0) return 1;
        if (r > 0) continue;
#define VALUE() ((v = cli_value(argc, argv, &i)) != NULL)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!VALUE()) return 1;
            model = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) {
            if (!VALUE() || !cli_int(a, v, 0, 1 << 20, &l)) return 1;
            p.n_prompt = (int)l;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            if (!VALUE() || !cli_int(a, v, 0, 1 << 20, &l)) return 1;
            p.n_gen = (int)l;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) {
            if (!VALUE() || !cli_int(a, v, 1, 1000, &l)) return 1;
            p.reps = (int)l;
        } else if (!strcmp(a, "--bw-mib")) {
            if (!VALUE() || !cli_int(a, v, 0, 1 << 20, &l)) return 1;
            p.bw_bytes = (uint64_t)l << 20;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            if (!VALUE() || !cli_int(a, v, 0, 1 << 24, &l)) return 1;
            p.n_ctx = (int)l;
        } else if (!strcmp(a, "--no-mmap")) {
            p.use_mmap = 0;
        } else if (!strcmp(a, "--mmap")) {
            p.use_mmap = 1;
        } else if (!strcmp(a, "--no-repack")) {
            o.mp.repack = 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_fail("unknown option '%s' (see matchbox bench --help)", a);
        } else if (!model) {
            model = a;
        } else {
            return cli_fail("unexpected argument '%s'", a);
        }
#undef VALUE
    }
    if (!model && !(model = cli_default_model())) return 1;
    p.n_threads = o.sp.n_threads;
    p.swa_full = o.sp.swa_full;
    p.kv_type_k = o.sp.kv_type_k;
    p.kv_type_v = o.sp.kv_type_v;
    p.mem_budget = o.mp.mem_budget;
    p.repack = o.mp.repack;
    mb_bench_result r;
    if (mb_bench_run(model, &p, &r) != MB_OK) return cli_fail(NULL);
    if (json)
        print_json(stdout, model, &r);
    else
        print_table(stdout, model, &r);
    return 0;
}
