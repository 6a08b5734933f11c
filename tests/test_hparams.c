/* Hyper-parameters from GGUF metadata: defaults, RoPE scaling keys, and
 * clear errors for what is missing, inconsistent or unsupported. */
#include "format/gguf.h"
#include "model/model.h"
#include "test_util.h"

typedef mb_status (*edit_fn)(mb_gguf_writer *w);

/* Write a metadata-only llama file edited by EDIT, read its hyper-parameters. */
static mb_status read_with(edit_fn edit, mb_hparams *hp) {
    static int n;
    char path[512];
    snprintf(path, sizeof path, "%s/hp%d.gguf", mbt_tmpdir(), n++);
    mb_gguf_writer *w = NULL;
    CHECK_OK(mb_gguf_writer_new(&w));
    mb_gguf_writer_set_str(w, "general.architecture", "llama");
    mb_gguf_writer_set_u32(w, "llama.context_length", 2048);
    mb_gguf_writer_set_u32(w, "llama.embedding_length", 256);
    mb_gguf_writer_set_u32(w, "llama.block_count", 4);
    mb_gguf_writer_set_u32(w, "llama.feed_forward_length", 704);
    mb_gguf_writer_set_u32(w, "llama.attention.head_count", 8);
    if (edit) CHECK_OK(edit(w));
    CHECK_OK(mb_gguf_writer_write(w, path));
    mb_gguf_writer_free(w);
    mb_gguf *g = NULL;
    CHECK_OK(mb_gguf_open(path, 1, 0, &g));
    mb_status st = g ? mb_hparams_read(g, hp) : MB_ERR_IO;
    mb_gguf_close(g);
    return st;
}

static mb_status linear_type(mb_gguf_writer *w) {
    mb_gguf_writer_set_str(w, "llama.rope.scaling.type", "linear");
    return mb_gguf_writer_set_f32(w, "llama.rope.scaling.factor", 4.0f);
}
static mb_status linear_old_key(mb_gguf_writer *w) {
    return mb_gguf_writer_set_f32(w, "llama.rope.scale_linear", 2.0f);
}
static mb_status yarn(mb_gguf_writer *w) {
    mb_gguf_writer_set_str(w, "llama.rope.scaling.type", "yarn");
    mb_gguf_writer_set_f32(w, "llama.rope.scaling.factor", 8.0f);
    return mb_gguf_writer_set_u32(w, "llama.rope.scaling.original_context_length", 512);
}
static mb_status unknown_scaling(mb_gguf_writer *w) {
    mb_gguf_writer_set_str(w, "llama.rope.scaling.type", "longrope");
    return mb_gguf_writer_set_f32(w, "llama.rope.scaling.factor", 2.0f);
}
static mb_status no_factor(mb_gguf_writer *w) {
    return mb_gguf_writer_set_str(w, "llama.rope.scaling.type", "linear");
}
static mb_status bad_heads(mb_gguf_writer *w) {
    return mb_gguf_writer_set_u32(w, "llama.attention.head_count_kv", 3);
}
static mb_status moe(mb_gguf_writer *w) {
    mb_gguf_writer_set_u32(w, "llama.expert_count", 8);
    return mb_gguf_writer_set_u32(w, "llama.expert_used_count", 2);
}
static mb_status moe_no_used(mb_gguf_writer *w) {
    return mb_gguf_writer_set_u32(w, "llama.expert_count", 8);
}
static mb_status moe_too_many_used(mb_gguf_writer *w) {
    mb_gguf_writer_set_u32(w, "llama.expert_count", 4);
    return mb_gguf_writer_set_u32(w, "llama.expert_used_count", 5);
}
static mb_status sliding_window(mb_gguf_writer *w) {
    return mb_gguf_writer_set_u32(w, "llama.attention.sliding_window", 4096);
}
/* The base file's keys moved to another architecture's prefix. */
static const char *arch_name;
static int arch_layers;
static mb_status as_arch(mb_gguf_writer *w) {
    char key[96];
    mb_gguf_writer_set_str(w, "general.architecture", arch_name);
    const char *u32[] = {"context_length", "embedding_length", "feed_forward_length",
                         "attention.head_count"};
    const uint32_t val[] = {2048, 256, 704, 8};
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", arch_name, u32[i]);
        mb_gguf_writer_set_u32(w, key, val[i]);
    }
    snprintf(key, sizeof key, "%s.block_count", arch_name);
    return mb_gguf_writer_set_u32(w, key, (uint32_t)arch_layers);
}

/* The defaults the newer architectures' files leave to the reader. */
static void test_newer_archs(void) {
    mb_hparams hp;
    arch_name = "gemma2", arch_layers = 4;
    CHECK_OK(read_with(as_arch, &hp));
    CHECK_EQ_INT(hp.sliding_window, 4096); /* no key: Gemma 2's window */
    CHECK(hp.swa_layer[0] && !hp.swa_layer[1] && hp.swa_layer[2] && !hp.swa_layer[3]);
    CHECK_NEAR(hp.attn_softcap, 50.0, 0);
    CHECK_NEAR(hp.final_softcap, 30.0, 0);
    CHECK_NEAR(hp.embd_scale, 16.0, 1e-6);
    CHECK_EQ_INT(hp.ffn_act, MB_FFN_GELU);
    CHECK_EQ_INT(hp.rope_mode, MB_ROPE_NEOX);
    CHECK(hp.post_norm && hp.q_prescale && !hp.qk_norm);
    CHECK_NEAR(hp.attn_scale, 1.0 / sqrt(32.0), 1e-7);
    /* The 46-layer 27B model scales queries by 1/sqrt(n_embd / n_head). */
    arch_layers = 46;
    CHECK_OK(read_with(as_arch, &hp));
    CHECK_NEAR(hp.attn_scale, 1.0 / sqrt(256.0 / 8.0), 1e-7);
    arch_name = "gemma3", arch_layers = 12;
    CHECK_OK(read_with(as_arch, &hp));
    CHECK_EQ_INT(hp.sliding_window, 0); /* gemma3 windows only with the key */
    CHECK_NEAR(hp.rope_base_swa, 10000.0, 0);
    CHECK(hp.qk_norm && hp.post_norm && hp.final_softcap == 0 && hp.attn_softcap == 0);
    arch_name = "qwen3", arch_layers = 4;
    CHECK_OK(read_with(as_arch, &hp));
    CHECK(hp.qk_norm && !hp.qkv_bias && !hp.post_norm && hp.ffn_act == MB_FFN_SILU);
    CHECK_EQ_INT(hp.n_ff_exp, 704);
    arch_name = "phi3";
    CHECK_OK(read_with(as_arch, &hp));
    CHECK(hp.q_prescale && hp.sliding_window == 0);
}

static mb_status unknown_arch(mb_gguf_writer *w) {
    return mb_gguf_writer_set_str(w, "general.architecture", "gemma");
}
/* qwen2 reads its own prefix: the llama.* keys of the base file are ignored. */
static mb_status qwen(mb_gguf_writer *w) {
    mb_gguf_writer_set_str(w, "general.architecture", "qwen2");
    mb_gguf_writer_set_u32(w, "qwen2.context_length", 4096);
    mb_gguf_writer_set_u32(w, "qwen2.embedding_length", 128);
    mb_gguf_writer_set_u32(w, "qwen2.block_count", 2);
    mb_gguf_writer_set_u32(w, "qwen2.feed_forward_length", 384);
    mb_gguf_writer_set_u32(w, "qwen2.attention.head_count", 4);
    mb_gguf_writer_set_u32(w, "qwen2.attention.head_count_kv", 2);
    mb_gguf_writer_set_f32(w, "qwen2.rope.freq_base", 1000000.0f);
    return mb_gguf_writer_set_f32(w, "qwen2.attention.layer_norm_rms_epsilon", 1e-6f);
}
static mb_status gqa_theta(mb_gguf_writer *w) {
    mb_gguf_writer_set_u32(w, "llama.attention.head_count_kv", 2);
    mb_gguf_writer_set_f32(w, "llama.rope.freq_base", 500000.0f);
    mb_gguf_writer_set_u32(w, "llama.rope.dimension_count", 16);
    return mb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-6f);
}
static mb_status wrong_type(mb_gguf_writer *w) {
    return mb_gguf_writer_set_str(w, "llama.block_count", "four");
}
static mb_status negative_eps(mb_gguf_writer *w) {
    return mb_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", -1.0f);
}

static mb_status drop_layers(mb_gguf_writer *w);

int main(void) {
    mb_hparams hp;
    CHECK_OK(read_with(NULL, &hp));
    /* Defaults: kv heads = heads, rope over the whole head, base 1e4, eps 1e-5. */
    CHECK_EQ_INT(hp.n_head_kv, 8);
    CHECK_EQ_INT(hp.head_dim, 32);
    CHECK_EQ_INT(hp.n_rot, 32);
    CHECK_NEAR(hp.rope_base, 10000, 0);
    CHECK_NEAR(hp.rms_eps, 1e-5, 1e-12);
    CHECK_EQ_INT(hp.rope_scaling, MB_ROPE_SCALING_NONE);

    CHECK_OK(read_with(gqa_theta, &hp));
    CHECK_EQ_INT(hp.n_head_kv, 2);
    CHECK_EQ_INT(hp.n_rot, 16);
    CHECK_NEAR(hp.rope_base, 500000, 0);
    CHECK_NEAR(hp.rms_eps, 1e-6, 1e-12);

    CHECK_OK(read_with(linear_type, &hp));
    CHECK_EQ_INT(hp.rope_scaling, MB_ROPE_SCALING_LINEAR);
    CHECK_NEAR(hp.rope_freq_scale, 0.25, 1e-7);
    CHECK_OK(read_with(linear_old_key, &hp));
    CHECK_EQ_INT(hp.rope_scaling, MB_ROPE_SCALING_LINEAR);
    CHECK_NEAR(hp.rope_freq_scale, 0.5, 1e-7);
    CHECK_OK(read_with(yarn, &hp));
    CHECK_EQ_INT(hp.rope_scaling, MB_ROPE_SCALING_YARN);
    CHECK_EQ_INT(hp.yarn_orig_ctx, 512);
    CHECK_NEAR(hp.rope_freq_scale, 0.125, 1e-7);

    CHECK(read_with(unknown_scaling, &hp) == MB_ERR_UNSUPPORTED);
    CHECK(strstr(mb_last_error(), "longrope") != NULL);
    CHECK(read_with(no_factor, &hp) == MB_ERR_FORMAT);
    CHECK(read_with(bad_heads, &hp) == MB_ERR_FORMAT);
    /* A dense llama file: adjacent-pair RoPE, no biases, experts or window. */
    CHECK_OK(read_with(NULL, &hp));
    CHECK_EQ_INT(hp.rope_mode, MB_ROPE_NORM);
    CHECK_EQ_INT(hp.qkv_bias, 0);
    CHECK_EQ_INT(hp.n_expert, 0);
    CHECK_EQ_INT(hp.sliding_window, 0);
    CHECK_OK(read_with(moe, &hp));
    CHECK_EQ_INT(hp.n_expert, 8);
    CHECK_EQ_INT(hp.n_expert_used, 2);
    CHECK(read_with(moe_no_used, &hp) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "llama.expert_used_count") != NULL);
    CHECK(read_with(moe_too_many_used, &hp) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "expert_count 4") != NULL);
    /* Mistral files: the llama architecture with a sliding window. */
    CHECK_OK(read_with(sliding_window, &hp));
    CHECK_EQ_INT(hp.sliding_window, 4096);
    CHECK_EQ_INT(mb_hparams_n_swa_layers(&hp), 4); /* every layer */
    CHECK_OK(read_with(qwen, &hp));
    CHECK(strcmp(hp.arch, "qwen2") == 0);
    CHECK_EQ_INT(hp.rope_mode, MB_ROPE_NEOX);
    CHECK_EQ_INT(hp.qkv_bias, 1);
    CHECK_EQ_INT(hp.n_embd, 128);
    CHECK_EQ_INT(hp.n_ctx_train, 4096);
    CHECK_NEAR(hp.rope_base, 1e6, 0);
    CHECK_NEAR(hp.rms_eps, 1e-6, 1e-12);
    CHECK(read_with(unknown_arch, &hp) == MB_ERR_UNSUPPORTED);
    CHECK(strstr(mb_last_error(), "'gemma'") && strstr(mb_last_error(), "qwen2") &&
          strstr(mb_last_error(), "llama") && strstr(mb_last_error(), "gemma3") &&
          strstr(mb_last_error(), "phi3") && strstr(mb_last_error(), "qwen3moe"));
    test_newer_archs();
    CHECK(read_with(wrong_type, &hp) == MB_ERR_FORMAT);
    CHECK(strstr(mb_last_error(), "llama.block_count") != NULL);
    CHECK(read_with(negative_eps, &hp) == MB_ERR_FORMAT);
    CHECK(read_with(drop_layers, &hp) == MB_ERR_FORMAT);
    CHECK_MSG(strstr(mb_last_error(), "layers 0") != NULL, "%s", mb_last_error());
    return mbt_finish();
}

/* A 0 where a count must be positive. */
static mb_status drop_layers(mb_gguf_writer *w) {
    return mb_gguf_writer_set_u32(w, "llama.block_count", 0);
}
