/* The subcommands of the matchbox CLI, one file each. Each returns the
 * process exit code; argv[0] is the subcommand's name. */
#ifndef MB_TOOLS_COMMANDS_H
#define MB_TOOLS_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_chat_template(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_tokenizer_train(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_summarize(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_lora_merge(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_prune(int argc, char **argv);

#endif
