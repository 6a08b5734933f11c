/* The flags that the commands running a model share, parsed from one table
 * (options.c): one place where a shared flag is added, one help format, and
 * defaults read from the library's params rather than repeated in help texts.
 *
 * A command picks the groups it takes, calls cli_opts_init, then for each
 * argument tries cli_opts_flag before its own flags, and prints
 * cli_opts_help(groups) below its own usage. */
#ifndef MB_TOOLS_OPTIONS_H
#define MB_TOOLS_OPTIONS_H

#include <stdio.h>

#include "matchbox.h"

enum {
    CLI_MODEL = 1u << 0,       /* -m, --mmap, --no-mmap, --mlock, --tokenizer-pre, --mem-budget */
    CLI_LORA = 1u << 1,        /* --lora, --lora-scale */
    CLI_CONTEXT = 1u << 2,     /* -c */
    CLI_CACHE = 1u << 3,       /* --swa-full, --kv-type, --kv-type-k/-ctk, --kv-type-v/-ctv */
    CLI_THREADS = 1u << 4,     /* -t */
    CLI_SAMPLING = 1u << 5,    /* --temp, --top-k, ..., -s */
    CLI_CHAT = 1u << 6,        /* --chat-template, --chat-template-file */
    CLI_VERBOSE = 1u << 7,     /* -v */
    CLI_SPECULATIVE = 1u << 8, /* -md, --draft-max, --draft-min, --lookup */
    CLI_BUDGET = 1u << 9,      /* --mem-budget (also with CLI_MODEL) */
    CLI_GRAMMAR = 1u << 10,    /* --grammar-file, --json-schema */
    CLI_RUNNING = CLI_MODEL | CLI_LORA | CLI_CONTEXT | CLI_CACHE | CLI_THREADS | CLI_VERBOSE,
};

typedef struct {
    const char *model; /* -m; NULL: the command's positional MODEL or cli_default_model() */
    mb_model_params mp;
    mb_session_params sp; /* n_ctx, n_threads, swa_full, kv_type_k, kv_type_v */
    mb_sampler_params sampling;
    int seed_given;
    const char *lora;
    float lora_scale;
    const char *chat_template, *chat_template_file;
    int verbose;
    const char *draft_model;                     /* -md */
    mb_speculative_params spec;                  /* draft_max, draft_min, lookup_n */
    const char *grammar_file, *json_schema_file; /* --grammar-file, --json-schema */
} cli_opts;

/* Defaults: the library's default params. */
void cli_opts_init(cli_opts *o);

/* Parse argv[*i] if it is a flag of GROUPS: 1 when it was (and *i is past its
 * value), 0 when it is not one of them, -1 after printing an error (a missing
 * or out-of-range value). */
int cli_opts_flag(cli_opts *o, unsigned groups, int argc, char **argv, int *i);

/* The help lines of GROUPS' flags, each with its default. */
void cli_opts_help(FILE *f, unsigned groups);

/* Load O's model (o->model must be set) with its model params and verbosity,
 * then apply --lora and --chat-template-file. 1 on success; 0 after printing
 * the error. */
int cli_opts_load_model(const cli_opts *o, mb_model **out);

/* Only the sampling flags (the table's CLI_SAMPLING rows), for commands
 * that keep their own sampler params: 1 when argv[*i] was one (stored in
 * SP, *SEED_GIVEN set by -s), 0 when not, -1 after printing an error. */
int cli_sampling_flag(int argc, char **argv, int *i, mb_sampler_params *sp, int *seed_given);

/* A seed from the clock and the process id (below 2^63, so that -s can
 * repeat it). */
uint64_t cli_random_seed(void);

/* When no seed was given, pick one from the clock. It is printed with -v, or
 * when PRINT_RANDOM and it was picked, so that a run can be repeated. */
void cli_opts_seed(cli_opts *o, int print_random);

/* Speculative decoding from O's flags: with -md, load the draft model
 * (cli_opts_load_draft) and a session of it with O's context and one
 * thread into *DRAFT_MODEL and *DRAFT; *SPEC gets the params, to pass to
 * mb_generate as they are (without -md or --lookup they say "off"). 1 on
 * success; 0 after printing the error. */
int cli_opts_speculative(const cli_opts *o, mb_model **draft_model, mb_session **draft,
                         mb_speculative_params *spec);

/* Load -md's draft model (O's model params) into *DRAFT_MODEL; NULL and 1
 * without -md. 1 on success; 0 after printing the error. */
int cli_opts_load_draft(const cli_opts *o, mb_model **draft_model);

/* The grammar of --grammar-file (GBNF) or --json-schema (compiled to
 * GBNF) into *OUT (NULL without either). 1 on success; 0 after printing
 * the error (cli_grammar.c). */
int cli_opts_grammar(const cli_opts *o, mb_grammar **out);

/* "speculative: N drafted, M accepted (P%), T tokens per forward pass" to F,
 * when the generation drafted anything. */
void cli_print_speculative(FILE *f, const mb_generate_stats *st);

/* Under --mem-budget: what was read from the file (per forward pass) and
 * the expert cache's hit rate; nothing without a budget. */
void cli_print_stream(FILE *f, const mb_model *model);

#endif
