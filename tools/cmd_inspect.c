/* matchbox inspect MODEL [--json]: metadata, tensor table, sizes, bits per
 * weight. Reads the file with the GGUF reader only, so it works on any GGUF,
 * vocab-only files and unsupported architectures included. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "matchbox/gguf.h"

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
        fprintf(f, "%.9g", arr ? mb_gguf_arr_f64(arr, i) : mb_gguf_value_f64(v));
    else if (type == MB_GGUF_BOOL)
        fputs((arr ? mb_gguf_arr_i64(arr, i) : (int64_t)mb_gguf_value_u64(v)) ? "true" : "false",
              f);
    else if (type == MB_GGUF_I8 || type == MB_GGUF_I16 || type == MB_GGUF_I32 ||
             type == MB_GGUF_I64)
        fprintf(f, "%" PRId64, arr ? mb_gguf_arr_i64(arr, i) : mb_gguf_value_i64(v));
    else
        fprintf(f, "%" PRIu64, arr ? (uint64_t)mb_gguf_arr_i64(arr, i) : mb_gguf_value_u64(v));
}

/* Text mode shows ARRAY_PREVIEW elements; JSON mode shows all of them. */
static void put_value(FILE *f, const mb_gguf_value *v, int json) {
    const mb_gguf_type type = mb_gguf_value_type(v);
    uint64_t len;
    if (type == MB_GGUF_STR) {
        const char *s = mb_gguf_value_str(v, &len);
        (json ? put_json_str : put_text_str)(f, s, len);
        return;
    }
    if (type != MB_GGUF_ARR) {
        put_scalar(f, type, v, NULL, 0);
        return;
    }
    const mb_gguf_type elem = mb_gguf_arr_type(v);
    uint64_t n = mb_gguf_arr_n(v), shown = json ? n : (n > ARRAY_PREVIEW ? ARRAY_PREVIEW : n);
    if (!json) fprintf(f, "[%s x %" PRIu64 "] ", mb_gguf_type_name(elem), n);
    fputc('[', f);
    for (uint64_t i = 0; i < shown; i++) {
        if (i) fputs(", ", f);
        if (elem == MB_GGUF_STR) {
            const char *s = mb_gguf_arr_str(v, i, &len);
            (json ? put_json_str : put_text_str)(f, s, len);
        } else if (elem == MB_GGUF_ARR) {
            put_value(f, mb_gguf_arr_item(v, i), json);
        } else {
            put_scalar(f, elem, NULL, v, i);
        }
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
           mb_gguf_version(g), mb_gguf_alignment(g), mb_gguf_data_offset(g));
    const uint64_t n_kv = mb_gguf_n_kv(g), n_tensors = mb_gguf_n_tensors(g);
    printf("\nmetadata (%" PRIu64 " keys):\n", n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        printf("  %-45s ", mb_gguf_kv_key(g, i));
        put_value(stdout, mb_gguf_kv_value(g, i), 0);
        putchar('\n');
    }
    printf("\ntensors (%" PRIu64 "):\n  %-36s %-6s %-28s %12s\n", n_tensors, "name", "type",
           "shape", "bytes");
    uint64_t params = 0, bytes = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        const mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        char shape[64] = "";
        size_t used = 0;
        for (uint32_t d = 0; d < t->n_dims; d++)
            used += (size_t)snprintf(shape + used, sizeof shape - used,
                                     d ? " x %" PRIu64 : "%" PRIu64, t->ne[d]);
        printf("  %-36s %-6s %-28s %12" PRIu64 "\n", t->name, mb_gguf_tensor_type_name(t->type),
               shape, t->nbytes);
        params += n_elements(t);
        bytes += t->nbytes;
    }
    printf("\ntotal: %" PRIu64 " parameters, %" PRIu64 " bytes (%.2f MiB), %.3f bits per weight\n",
           params, bytes, bytes / 1048576.0, params ? 8.0 * (double)bytes / (double)params : 0.0);
}

static void print_json(const char *path, const mb_gguf *g) {
    printf("{\"file\": ");
    put_json_str(stdout, path, strlen(path));
    printf(", \"version\": %u, \"alignment\": %" PRIu64 ", \"metadata\": {", mb_gguf_version(g),
           mb_gguf_alignment(g));
    const uint64_t n_kv = mb_gguf_n_kv(g), n_tensors = mb_gguf_n_tensors(g);
    for (uint64_t i = 0; i < n_kv; i++) {
        const char *key = mb_gguf_kv_key(g, i);
        printf(i ? ", " : "");
        put_json_str(stdout, key, strlen(key));
        printf(": ");
        put_value(stdout, mb_gguf_kv_value(g, i), 1);
    }
    printf("}, \"tensors\": [");
    uint64_t params = 0, bytes = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        const mb_gguf_tensor *t = mb_gguf_tensor_at(g, i);
        printf("%s{\"name\": ", i ? ", " : "");
        put_json_str(stdout, t->name, strlen(t->name));
        printf(", \"type\": \"%s\", \"shape\": [", mb_gguf_tensor_type_name(t->type));
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
