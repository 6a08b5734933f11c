/* matchbox inspect MODEL [--json]: metadata, tensor table, sizes, bits per
 * weight. Reads the file with the GGUF reader only, so it works on any GGUF,
 * vocab-only files and unsupported architectures included. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "format/gguf.h"
#include "tensor/types.h"

enum { ARRAY_PREVIEW = 8 };

static void put_json_str(FILE *f, const char *s, uint64_t n) {
    fputc('"', f);
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f); /* UTF-8 passes through; invalid bytes too (JSON readers may replace) */
    }
    fputc('"', f);
}

static void put_text_str(FILE *f, const char *s, uint64_t n) {
    uint64_t shown = n > 120 ? 120 : n;
    fputc('"', f);
    for (uint64_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
    if (shown < n) fprintf(f, "... (%" PRIu64 " bytes)", n);
}

static void put_scalar(FILE *f, uint32_t type, const mb_gguf_value *v, const mb_gguf_value *arr,
                       uint64_t i) {
    if (type == MB_GGUF_F32 || type == MB_GGUF_F64)
        fprintf(f, "%.9g", arr ? mb_gguf_arr_f64(arr, i) : v->f64);
    else if (type == MB_GGUF_BOOL)
        fputs((arr ? mb_gguf_arr_i64(arr, i) : (int64_t)v->u64) ? "true" : "false", f);
    else if (type == MB_GGUF_I8 || type == MB_GGUF_I16 || type == MB_GGUF_I32 ||
             type == MB_GGUF_I64)
        fprintf(f, "%" PRId64, arr ? mb_gguf_arr_i64(arr, i) : v->i64);
    else
        fprintf(f, "%" PRIu64, arr ? (uint64_t)mb_gguf_arr_i64(arr, i) : v->u64);
}

/* Text mode shows ARRAY_PREVIEW elements; JSON mode shows all of them. */
static void put_value(FILE *f, const mb_gguf_value *v, int json) {
    if (v->type == MB_GGUF_STR) {
        (json ? put_json_str : put_text_str)(f, v->str.ptr, v->str.len);
        return;
    }
    if (v->type != MB_GGUF_ARR) {
        put_scalar(f, v->type, v, NULL, 0);
        return;
    }
    uint64_t n = v->arr.n, shown = json ? n : (n > ARRAY_PREVIEW ? ARRAY_PREVIEW : n);
    if (!json) fprintf(f, "[%s x %" PRIu64 "] ", mb_gguf_type_name(v->arr.type), n);
    fputc('[', f);
    for (uint64_t i = 0; i < shown; i++) {
        if (i) fputs(", ", f);
        if (v->arr.type == MB_GGUF_STR)
            (json ? put_json_str : put_text_str)(f, v->arr.strs[i].ptr, v->arr.strs[i].len);
        else if (v->arr.type == MB_GGUF_ARR)
            put_value(f, &v->arr.items[i], json);
        else
            put_scalar(f, v->arr.type, NULL, v, i);
    }
    if (shown < n) fputs(", ...", f);
    fputc(']', f);
}

static uint64_t n_elements(const mb_gguf_tensor *t) {
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++)
        n *= t->ne[d];
    return n;
}

static void print_text(const char *path, const mb_gguf *g) {
    printf("file: %s\nGGUF version %u, alignment %" PRIu64 ", data at byte %" PRIu64 "\n", path,
           g->version, g->alignment, g->data_offset);
    printf("\nmetadata (%" PRIu64 " keys):\n", g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        printf("  %-45s ", g->kv[i].key);
        put_value(stdout, &g->kv[i].value, 0);
        putchar('\n');
    }
    printf("\ntensors (%" PRIu64 "):\n  %-36s %-6s %-28s %12s\n", g->n_tensors, "name", "type",
           "shape", "bytes");
    uint64_t params = 0, bytes = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        char shape[64] = "";
        size_t used = 0;
        for (uint32_t d = 0; d < t->n_dims; d++)
            used += (size_t)snprintf(shape + used, sizeof shape - used,
                                     d ? " x %" PRIu64 : "%" PRIu64, t->ne[d]);
        printf("  %-36s %-6s %-28s %12" PRIu64 "\n", t->name, mb_type_name(t->type), shape,
               t->nbytes);
        params += n_elements(t);
        bytes += t->nbytes;
    }
    printf("\ntotal: %" PRIu64 " parameters, %" PRIu64 " bytes (%.2f MiB), %.3f bits per weight\n",
           params, bytes, bytes / 1048576.0, params ? 8.0 * (double)bytes / (double)params : 0.0);
}

static void print_json(const char *path, const mb_gguf *g) {
    printf("{\"file\": ");
    put_json_str(stdout, path, strlen(path));
    printf(", \"version\": %u, \"alignment\": %" PRIu64 ", \"metadata\": {", g->version,
           g->alignment);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        printf(i ? ", " : "");
        put_json_str(stdout, g->kv[i].key, strlen(g->kv[i].key));
        printf(": ");
        put_value(stdout, &g->kv[i].value, 1);
    }
    printf("}, \"tensors\": [");
    uint64_t params = 0, bytes = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const mb_gguf_tensor *t = &g->tensors[i];
        printf("%s{\"name\": ", i ? ", " : "");
        put_json_str(stdout, t->name, strlen(t->name));
        printf(", \"type\": \"%s\", \"shape\": [", mb_type_name(t->type));
        for (uint32_t d = 0; d < t->n_dims; d++)
            printf(d ? ", %" PRIu64 : "%" PRIu64, t->ne[d]);
        printf("], \"offset\": %" PRIu64 ", \"bytes\": %" PRIu64 "}", t->offset, t->nbytes);
        params += n_elements(t);
        bytes += t->nbytes;
    }
    printf("], \"parameters\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"bits_per_weight\": %.4f}\n",
           params, bytes, params ? 8.0 * (double)bytes / (double)params : 0.0);
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            puts("usage: matchbox inspect MODEL [--json]\n\n"
                 "Show a GGUF file's metadata, its tensors (type, shape, bytes), the total\n"
                 "size and the bits per weight. --json prints one JSON object with every\n"
                 "value in full.");
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_fail("unknown option '%s' (see matchbox inspect --help)", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_fail("unexpected argument '%s'", argv[i]);
        }
    }
    if (!path) return cli_fail("no model given (see matchbox inspect --help)");
    mb_gguf *g = NULL;
    if (mb_gguf_open(path, 1, 0, &g) != MB_OK) return cli_fail(NULL);
    (json ? print_json : print_text)(path, g);
    mb_gguf_close(g);
    return 0;
}
