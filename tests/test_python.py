"""The Python binding (python/matchbox) against libmatchbox and the CLI.

Usage: python3 tests/test_python.py MATCHBOX_CLI SHARED INCLUDE_DIR
(tests/test_python.sh sets MATCHBOX_LIB and PYTHONPATH). Standard library
only: every check is an assertion that names what differed."""

import ctypes
import json
import os
import shutil
import signal
import threading
import subprocess
import sys
import tempfile

import matchbox as mb
from matchbox import _capi

CLI, SHARED, INCLUDE = sys.argv[1], sys.argv[2], sys.argv[3]
MODEL = os.path.join(SHARED, "models", "stories260K.gguf")
TMP = tempfile.mkdtemp(prefix="mb-python-")
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, file=sys.stderr)


# The programs this test runs get the environment without the sanitizer
# runtime test_python.sh preloads into python for an ASan build's library.
ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def cli(*args):
    r = subprocess.run([CLI] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=ENV)
    if r.returncode != 0:
        raise RuntimeError("matchbox %s: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout.decode("utf-8")


def raises(exc, fn):
    try:
        fn()
    except exc as e:
        return e
    return None


# ---- the mirrored structs and constants agree with the header -------------


def layout_program():
    out = ['#include <stddef.h>', '#include <stdio.h>', '#include "matchbox.h"', "int main(void) {"]
    for cls in _capi.STRUCTS:
        t = cls._c_name_
        out.append('printf("struct %s %%zu\\n", sizeof(%s));' % (t, t))
        for f in cls._fields_:
            out.append('printf("field %s.%s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                       % (t, f[0], t, f[0], t, f[0]))
    for name in _capi.CONSTANTS:
        out.append('printf("const %s %%lld\\n", (long long)%s);' % (name, name))
    out.append("return 0; }")
    return "\n".join(out) + "\n"


def test_layouts():
    src, exe = os.path.join(TMP, "layout.c"), os.path.join(TMP, "layout")
    with open(src, "w") as f:
        f.write(layout_program())
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-std=c11", "-I", INCLUDE, src, "-o", exe], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=ENV)
    # A field the binding names that the header lacks fails to compile.
    check(r.returncode == 0, "the layout program does not compile against %s/matchbox.h "
          "(a mirrored field or constant is gone):\n%s" % (INCLUDE, r.stdout.decode()))
    if r.returncode != 0:
        return
    want = {}
    for cls in _capi.STRUCTS:
        want["struct " + cls._c_name_] = str(ctypes.sizeof(cls))
        for f in cls._fields_:
            d = getattr(cls, f[0])
            want["field %s.%s" % (cls._c_name_, f[0])] = "%d %d" % (d.offset, d.size)
    for name, v in _capi.CONSTANTS.items():
        want["const " + name] = str(v)
    got = {}
    for line in subprocess.run([exe], stdout=subprocess.PIPE, env=ENV).stdout.decode().splitlines():
        kind, name, rest = line.split(" ", 2)
        got[kind + " " + name] = rest
    for k in want:
        check(got.get(k) == want[k], "%s: the header has %s, python/matchbox/_capi.py %s"
              % (k, got.get(k), want[k]))


# ---- model facts, tokenizer -----------------------------------------------


def test_model(model):
    check(model.n_vocab == 512 and model.n_ctx_train == 2048, "n_vocab/n_ctx_train")
    check(model.bos == 1 and model.eos == 2, "bos %d eos %d" % (model.bos, model.eos))
    check(model.is_eog(model.eos) and not model.is_eog(model.bos), "is_eog")
    check(model.desc.startswith("llama"), "desc %r" % model.desc)
    check(model.token_to_piece(model.bos) == b"" and
          model.token_to_piece(model.bos, special=True) == b"<s>", "the BOS piece")
    for text in ["Once upon a time, there was a cat.", "Lily said: \"Hi!\"\n\n  two spaces",
                 "caf\u00e9 \u65e5\u672c \U0001F600"]:
        ids = model.tokenize(text)
        want = cli("tokenize", MODEL, text, "--ids").split()
        check([str(i) for i in ids] == want, "tokenize(%r) %s, the CLI %s" % (text, ids, want))
        back = model.detokenize(model.tokenize(text, add_special=False))
        # SentencePiece gives the space it prefixed the text with.
        check(back in (text, " " + text), "detokenize(tokenize(%r)) = %r" % (text, back))
    check(model.tokenize("<s>a", add_special=False, parse_special=True)[0] == model.bos,
          "parse_special reads <s> as BOS")


# ---- generation against `matchbox run` -------------------------------------

PROMPT = "Once upon a time"


def test_generate(model):
    want = cli("run", MODEL, "-p", PROMPT, "-n", "40", "--temp", "0", "-t", "1",
               "--no-display-prompt")[:-1]  # run ends the text with a newline
    with mb.Session(model, n_threads=1) as s:
        pieces = []
        r = s.generate(PROMPT, max_tokens=40, temperature=0, on_text=pieces.append)
        check(r.text == want, "greedy: python %r, matchbox run %r" % (r.text, want))
        check("".join(pieces) == r.text, "the on_text pieces %r join to the text" % pieces)
        check(r.n_generated == len(r.tokens) and r.stop_reason in ("max_tokens", "eog"),
              "stats: %r, %d tokens" % (r, len(r.tokens)))
        check(r.n_prompt == len(model.tokenize(PROMPT)) and s.n_past == r.n_prompt + 39,
              "n_prompt %d, n_past %d" % (r.n_prompt, s.n_past))
        # The same prompt again reuses the cache and gives the same text.
        r2 = s.generate(model.tokenize(PROMPT), max_tokens=40, temperature=0)
        check(r2.text == want and r2.n_cached == r.n_prompt - 1,
              "token-id prompt with the cache: %r, n_cached %d" % (r2.text, r2.n_cached))
        r3 = s.generate(PROMPT, max_tokens=40, temperature=0, reuse_cache=False)
        check(r3.text == want and r3.n_cached == 0, "without the cache: %r" % r3.text)
        check(model.detokenize(r.tokens) == r.text,
              "the tokens' text %r is the text" % model.detokenize(r.tokens))
        # Streaming: the iterator's pieces are the text.
        st = s.generate(PROMPT, max_tokens=40, temperature=0, stream=True)
        got = list(st)
        check("".join(got) == want and st.result.text == want and len(got) > 5,
              "stream: %r" % got)
        # A sampled run with a seed matches the CLI's with that seed (every
        # field of the sampler params reaches the library).
        want_s = cli("run", MODEL, "-p", PROMPT, "-n", "40", "--temp", "0.9", "-s", "42", "-t",
                     "1", "--top-k", "20", "--repeat-penalty", "1.1", "--no-display-prompt")[:-1]
        got_s = s.generate(PROMPT, max_tokens=40, temperature=0.9, seed=42, top_k=20,
                           repeat_penalty=1.1).text
        check(got_s == want_s, "seed 42: python %r, matchbox run %r" % (got_s, want_s))
        # No seed: a random one, reported, that reproduces the text.
        r1 = s.generate(PROMPT, max_tokens=40, temperature=1.0)
        r2 = s.generate(PROMPT, max_tokens=40, temperature=1.0, seed=r1.seed)
        r3 = s.generate(PROMPT, max_tokens=40, temperature=1.0)
        check(r2.text == r1.text and r3.seed != r1.seed, "random seeds: %d %d" % (r1.seed, r3.seed))
        test_stops(s, want)
        test_threads(model, want)
        test_session_calls(model, s, r.tokens)


def test_stops(s, want):
    k = len(want) // 2
    while want[k] != " ":
        k += 1
    stop = want[k:k + 6]
    cut = want.index(stop)
    pieces = []
    r = s.generate(PROMPT, max_tokens=40, temperature=0, stop=[stop, "zzzz"],
                   on_text=pieces.append)
    check(r.text == want[:cut] and r.stop_reason == "stop_string" and "".join(pieces) == r.text,
          "stop %r: %r (%s), want %r" % (stop, r.text, r.stop_reason, want[:cut]))
    seen = []
    r = s.generate(PROMPT, max_tokens=40, temperature=0, on_text=lambda p: seen.append(p) or
                   len(seen) == 3)
    check(len(seen) == 3 and r.stop_reason == "callback" and r.text == "".join(seen),
          "on_text returning true stops: %r %s" % (seen, r.stop_reason))
    r = s.generate(PROMPT, max_tokens=40, temperature=0, on_token=lambda t: t == 261)
    check(r.stop_reason == "callback" and 261 not in r.tokens, "on_token stop: %r" % r)

    def boom(piece):
        raise KeyError("from the callback")

    e = raises(KeyError, lambda: s.generate(PROMPT, max_tokens=40, temperature=0, on_text=boom))
    check(e is not None and "from the callback" in str(e), "a callback's exception propagates")
    check(s.generate(PROMPT, max_tokens=40, temperature=0).text == want,
          "the session works after a callback raised")
    n = [0]

    def ctrl_c(token):
        n[0] += 1
        if n[0] == 3:
            signal.raise_signal(signal.SIGINT)

    e = raises(KeyboardInterrupt, lambda: s.generate(PROMPT, max_tokens=40, on_token=ctrl_c))
    check(e is not None and n[0] == 3, "Ctrl-C stops a generation: %d tokens" % n[0])
    # The worker would finish 40 tokens of this tiny model before close():
    # its second piece waits until close() has been called.
    gate = threading.Event()
    st = s.generate(PROMPT, max_tokens=40, temperature=0, stream=True,
                    on_text=lambda p: gate.wait(10) and False)
    first = next(st)
    threading.Timer(0.3, gate.set).start()
    st.close()
    check(first and st.result is not None and st.result.stop_reason == "callback" and
          st.result.n_generated < 5, "closing a stream stops it: %r" % st.result)
    e = raises(mb.MatchboxError, lambda: s.generate(PROMPT, stop=["x" * 5000]))
    check(e is not None and e.status == _capi.CONSTANTS["MB_ERR_INVALID_ARG"] and
          "stop string" in e.message, "a too long stop string: %r" % e)


def test_threads(model, want):
    """One model, a session per thread, decoding at the same time (ctypes
    lets go of the GIL in C calls); a session refuses a second caller."""
    out = [None] * 3

    def work(i):
        with mb.Session(model, n_threads=1) as s:
            out[i] = s.generate(PROMPT, max_tokens=40, temperature=0).text

    ts = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(out == [want] * 3, "sessions on three threads: %r" % out)
    with mb.Session(model, n_threads=1) as s:
        busy = []

        def again(piece):
            if not busy:
                busy.append(raises(RuntimeError, lambda: s.rewind(0)))

        s.generate(PROMPT, max_tokens=4, temperature=0, on_text=again)
        check(busy and busy[0] is not None, "a session in use refuses another call")


def test_session_calls(model, s, greedy_ids):
    ids = model.tokenize(PROMPT)
    s.rewind(0)
    check(s.n_past == 0 and s.tokens == [], "rewind(0)")
    s.eval(ids)
    logits = s.logits()
    best = max(range(len(logits)), key=logits.__getitem__)
    check(s.n_past == len(ids) and len(logits) == model.n_vocab and best == greedy_ids[0],
          "eval/logits: n_past %d, argmax %d, first greedy %d" % (s.n_past, best, greedy_ids[0]))
    with mb.Sampler(model, temperature=0) as sp:
        check(sp.sample(s) == greedy_ids[0], "a greedy Sampler picks the argmax")
    s.rewind(2)
    check(s.n_past == 2 and s.tokens == ids[:2], "rewind(2): n_past %d" % s.n_past)
    # Embeddings: unit length, mean unlike last, the session left empty;
    # the mean of a prefix's unnormalized states is the mean of its parts.
    e = s.embed(ids)
    check(len(e) == model.n_embd and abs(sum(x * x for x in e) - 1) < 1e-4 and s.n_past == 0
          and s.tokens == [], "embed: %d floats, n_past %d" % (len(e), s.n_past))
    check(list(s.embed(ids, pooling="last")) != list(e), "last pooling differs from mean")
    raw = s.embed(ids, normalize=False)
    norm = sum(x * x for x in raw) ** 0.5
    check(max(abs(a / norm - b) for a, b in zip(raw, e)) < 1e-5, "normalize scales the raw mean")
    e = raises(mb.MatchboxError, lambda: s.embed([]))
    check(e is not None and e.status == _capi.CONSTANTS["MB_ERR_INVALID_ARG"], "embed([]): %r" % e)
    with mb.Session(model, n_ctx=8) as small:
        e = raises(mb.MatchboxError, lambda: small.generate("Once upon a time " * 4))
        check(e is not None and e.status == _capi.CONSTANTS["MB_ERR_CONTEXT_FULL"] and
              "context" in e.message, "a prompt longer than n_ctx: %r" % e)


# ---- chat templates against `matchbox chat-template` / `run --chat` --------

MSGS = [{"role": "system", "content": "You tell short stories."},
        {"role": "user", "content": "Once upon a time there was a cat"}]


def test_chat(model):
    conv = os.path.join(TMP, "conv.json")
    with open(conv, "w") as f:
        json.dump(MSGS, f)
    tvars = {"bos_token": "<s>", "eos_token": "</s>"}
    for name in ["meta-llama-Llama-3.1-8B-Instruct", "Qwen-Qwen3-0.6B"]:
        path = os.path.join(SHARED, "templates", name + ".jinja")
        want = cli("chat-template", "--file", path, "--messages", conv, "--var", "bos_token=<s>",
                   "--var", "eos_token=</s>", "--now", "2024-07-26T10:00:00")
        text = open(path).read()
        got = model.apply_chat_template(MSGS, template_text=text, variables=tvars,
                                        now="2024-07-26T10:00:00")
        check(got == want, "%s: python %r, chat-template %r" % (name, got, want))
    for fam in ["chatml", "llama2", "gemma"]:
        want = cli("run", MODEL, "-p", MSGS[1]["content"], "--system", MSGS[0]["content"],
                   "--chat-template", fam, "-n", "0", "--temp", "0")[:-1]
        got = model.apply_chat_template(MSGS, template=fam)
        check(got == want, "built-in %s: python %r, run --chat %r" % (fam, got, want))
    check("chatml" in mb.chat_template_names(), "chat_template_names")
    check(model.chat_template_name() == ("chatml", True), "stories260K falls back to ChatML")
    e = raises(mb.MatchboxError, lambda: model.apply_chat_template(MSGS, template="nope"))
    check(e is not None and "chatml" in e.message, "an unknown template names the choices")
    e = raises(mb.MatchboxError, lambda: model.apply_chat_template(
        MSGS, template_text="{{ raise_exception('no system role') }}"))
    check(e is not None and "no system role" in e.message, "a template's raise: %r" % e)
    # chat(): the rendered prompt, tokenized as a chat is, then generated.
    with mb.Session(model, n_threads=1) as s:
        r = s.chat(MSGS, template="chatml", max_tokens=12, temperature=0)
        text = model.apply_chat_template(MSGS, template="chatml")
        ids = model.tokenize(text, model.chat_add_special(text), True)
        r2 = s.generate(ids, max_tokens=12, temperature=0, reuse_cache=False)
        check(r.text == r2.text and r.n_prompt == len(ids), "chat(): %r vs %r" % (r, r2))


# ---- errors and lifetimes ---------------------------------------------------


def test_errors_and_lifetimes():
    missing = os.path.join(TMP, "missing.gguf")
    e = raises(mb.MatchboxError, lambda: mb.Model(missing))
    check(e is not None and e.status == _capi.CONSTANTS["MB_ERR_IO"] and missing in str(e) and
          e.status_name, "a missing file: %r" % e)
    e = raises(TypeError, lambda: mb.Model(MODEL, no_such_param=1))
    check(e is not None and "no_such_param" in str(e), "an unknown parameter is a TypeError")
    bad = os.path.join(TMP, "bad.gguf")
    with open(bad, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00truncated")
    e = raises(mb.MatchboxError, lambda: mb.Model(bad))
    check(e is not None and e.status == _capi.CONSTANTS["MB_ERR_FORMAT"], "a truncated file: %r" % e)
    # A session keeps its model: closing the model first defers the free.
    m = mb.Model(MODEL, vocab_only=0)
    s = mb.Session(m, n_ctx=64)
    m.close()
    check(s.generate(PROMPT, max_tokens=4, temperature=0).n_generated == 4,
          "the session runs after its model was closed")
    check(m._h is not None, "the model is freed only after its sessions")
    s.close()
    check(m._h is None, "closing the last session frees the closed model")
    check(raises(ValueError, lambda: m.n_vocab) is not None, "a freed model refuses calls")
    check(raises(ValueError, lambda: mb.Session(m)) is not None, "no session of a freed model")
    import pathlib

    with mb.Model(pathlib.Path(MODEL), vocab_only=1) as v:
        check(v.tokenize("a")[0] == 1, "vocab_only model tokenizes")


# ---- newer calls, where the library has them ------------------------------


def test_abort_and_log(model):
    if _capi.has("mb_session_set_abort"):
        with mb.Session(model, n_threads=1) as s:
            n = [0]

            def cancel_third(token):
                n[0] += 1
                if n[0] == 3:
                    s.cancel()  # polled during the next token's evaluation

            r = s.generate(PROMPT, max_tokens=40, temperature=0, on_token=cancel_third)
            check(r.stop_reason == "aborted" and r.n_generated == 3 and
                  s.n_past == r.n_prompt + 2, "cancel(): %r, n_past %d" % (r, s.n_past))
            r = s.generate(PROMPT, max_tokens=4, temperature=0)
            check(r.n_generated == 4, "a call after cancel() runs: %r" % r)
    else:
        print("note: this libmatchbox has no mb_session_set_abort; cancel() not tested")
    if _capi.has("mb_log_set"):
        got = []
        mb.set_log_callback(lambda level, text: got.append((level, text)))
        try:
            with mb.Model(MODEL, verbose=1):
                pass
        finally:
            mb.set_log_callback(None)
        check(got and all(isinstance(t, str) and 0 <= lv <= 3 for lv, t in got),
              "the log callback gets a verbose load's messages: %r" % got[:3])
    else:
        print("note: this libmatchbox has no mb_log_set; set_log_callback() not tested")


def main():
    test_layouts()
    if failed:  # calls through wrong layouts would only crash or mislead
        sys.exit(1)
    with mb.Model(MODEL) as model:
        test_model(model)
        test_generate(model)
        test_chat(model)
        test_abort_and_log(model)
    test_errors_and_lifetimes()
    print("python binding (%s, kernels %s): %d passed, %d failed"
          % (mb.load_library()._name, mb.kernels_name(), passed, failed))
    shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
