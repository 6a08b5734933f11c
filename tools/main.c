/* matchbox: the command-line tool. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "matchbox.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "talk with a model in its chat template"},
    {"chat-template", cmd_chat_template, "print the prompt a chat template renders"},
    {"inspect", cmd_inspect, "show a GGUF file's metadata and tensors"},
    {"fit", cmd_fit, "say whether a model runs here and how, from its metadata alone"},
    {"tokenize", cmd_tokenize, "show how a model tokenizes text"},
    {"convert", cmd_convert, "turn a llama2.c checkpoint into a GGUF"},
    {"quantize", cmd_quantize, "shrink a model's weights to a GGUF type or preset"},
    {"prune", cmd_prune, "zero the least important weights, stored in a sparse type"},
    {"perplexity", cmd_perplexity, "perplexity and KL divergence of a model on a text"},
    {"calibrate", cmd_calibrate, "activation statistics (importance matrix) for quantize"},
    {"bench", cmd_bench, "measure load, prefill and decode speed and memory bandwidth"},
    {"train", cmd_train, "train a small llama model from scratch on a text"},
    {"distill", cmd_distill, "train a student model against a teacher (knowledge distillation)"},
    {"tokenizer-train", cmd_tokenizer_train, "train a byte-level BPE tokenizer on a text"},
    {"serve", cmd_serve, "serve a model over HTTP with the OpenAI API"},
    {"agent", cmd_agent, "answer locally, escalate to an oracle model when unsure"},
    {"summarize", cmd_summarize, "summarize a text longer than the context (map-reduce)"},
    {"finetune", cmd_finetune, "train LoRA adapters on a model over a text"},
    {"lora-merge", cmd_lora_merge, "fold a LoRA adapter into a model's weights"},
};

/* The library's messages go to stderr as they are (the library's default
 * too; installed here so that the CLI's choice is written down). */
static void log_to_stderr(mb_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    fputs(msg, stderr);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: matchbox COMMAND [ARGS]   (matchbox COMMAND --help for more)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    mb_log_set(log_to_stderr, NULL);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        /* The kernel level chosen and the default thread count (-t 0). */
        printf("matchbox %s (kernels: %s, threads: %d)\n", MB_VERSION, mb_kernels_name(),
               mb_n_physical_cores());
        return 0;
    }
    /* A command stopped by a signal leaves no temporary output behind. */
    cli_cleanup_on_signals();
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
