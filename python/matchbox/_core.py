"""Models, sessions and samplers: Python objects that own the C handles.

Lifetimes: a Session keeps its Model alive, and Model.close() while sessions
are open only marks the model closed; the C model is freed when its last
session closes (a session's KV cache and buffers belong to the model's
weights and vocabulary).
Threads: a model may be used from several threads; a session by one thread
at a time (a second concurrent call on it raises RuntimeError). ctypes
releases the GIL during every C call, so other Python threads run while a
session decodes.
"""

import array
import ctypes
import os
import threading

from . import _capi
from ._capi import lib


class MatchboxError(Exception):
    """A failed library call: status is the mb_status number, status_name its
    short name ("format error"), message mb_last_error()'s text."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = lib().mb_status_str(self.status).decode("utf-8", "replace")
        self.message = message
        super().__init__(message or self.status_name)


def _check(status):
    if status != 0:
        raise MatchboxError(status, lib().mb_last_error().decode("utf-8", "replace"))


def _bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def _set_fields(struct, params, what):
    """Copy keyword arguments into a params struct that came from the
    library's defaults; an unknown name is a TypeError, as for a function.
    Returns the objects that must stay alive as long as the struct (the
    bytes behind char * fields)."""
    names = {f[0]: f[1] for f in type(struct)._fields_ if f[0] != "struct_size"}
    keep = []
    for k, v in params.items():
        if k not in names:
            raise TypeError(
                "unknown %s parameter %r (known: %s)" % (what, k, ", ".join(sorted(names)))
            )
        if names[k] is ctypes.c_char_p and isinstance(v, str):
            v = v.encode("utf-8")
        if v is None and names[k] is not ctypes.c_char_p:
            continue
        keep.append(v)
        setattr(struct, k, v)
    return keep


# Every log callback ever installed stays alive: a message being logged on
# another thread may still reach a replaced one.
_log_cbs = []


def set_log_callback(fn):
    """Send every message of the library to FN(level, text) (level 0 error,
    1 warning, 2 info, 3 debug; text as a terminal shows it, usually ending in
    a newline); None restores the default (stderr). FN may be called from any
    thread and must not call into matchbox. Needs a library with mb_log_set."""
    if not _capi.has("mb_log_set"):
        raise NotImplementedError("this libmatchbox has no mb_log_set")
    if fn is None:
        lib().mb_log_set(ctypes.cast(None, _capi.LOG_CB), None)
        return

    def call(level, msg, _user):
        try:
            fn(level, msg.decode("utf-8", "replace"))
        except BaseException:  # nowhere to raise it: the caller is C code
            pass

    _log_cbs.append(_capi.LOG_CB(call))
    lib().mb_log_set(_log_cbs[-1], None)


def version():
    """The library's version string (mb_version() where the library has it)."""
    if _capi.has("mb_version"):
        return lib().mb_version().decode()
    return None


def kernels_name():
    """The kernel level in use: "ref", "avx2", "avx512", "avx512-vnni",
    "avx512-bf16", "neon" or "neon-dotprod"."""
    return lib().mb_kernels_name().decode()


def chat_template_names():
    """The built-in chat template families a template= override accepts."""
    return [n.strip() for n in lib().mb_chat_template_names().decode().split(",") if n.strip()]


class _Closing:
    """A handle freed by close(): usable in a with statement, and closed
    when collected if the caller did not."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Model(_Closing):
    """A loaded GGUF model. Keyword arguments are mb_model_params fields
    (use_mmap, use_mlock, verbose, vocab_only, tokenizer_pre, mem_budget,
    repack)."""

    def __init__(self, path, **params):
        self._h = None
        self._sessions = 0  # open sessions: the C model is freed after the last
        self._closing = False
        self._count_lock = threading.Lock()
        p = _capi.default_struct(_capi.ModelParams)
        keep = _set_fields(p, params, "model")  # noqa: F841 (tokenizer_pre's bytes)
        h = ctypes.c_void_p()
        _check(lib().mb_model_load(os.fsencode(path), ctypes.byref(p), ctypes.byref(h)))
        self._h = h
        self.path = path

    # -- lifetime --

    def _handle(self):
        if self._h is None:
            raise ValueError("the model is closed")
        return self._h

    def close(self):
        """Free the model now or, while sessions of it are open, when the
        last of them closes (until then it stays usable)."""
        self._closing = True
        self._maybe_free()

    def _maybe_free(self):
        with self._count_lock:
            if not (self._closing and self._sessions == 0 and self._h is not None):
                return
            h, self._h = self._h, None
        lib().mb_model_free(h)

    def _acquire(self):
        """The handle, for a new session: counted, so the model outlives it."""
        with self._count_lock:
            if self._h is None:
                raise ValueError("the model is closed")
            self._sessions += 1
            return self._h

    def _release(self):
        with self._count_lock:
            self._sessions -= 1
        self._maybe_free()

    # -- facts --

    @property
    def n_vocab(self):
        return lib().mb_model_n_vocab(self._handle())

    @property
    def n_embd(self):
        """The length of an embedding (Session.embed)."""
        return lib().mb_model_n_embd(self._handle())

    @property
    def n_ctx_train(self):
        return lib().mb_model_n_ctx_train(self._handle())

    @property
    def desc(self):
        return lib().mb_model_desc(self._handle()).decode("utf-8", "replace")

    @property
    def uses_mmap(self):
        return bool(lib().mb_model_uses_mmap(self._handle()))

    @property
    def weight_bytes(self):
        return lib().mb_model_weight_bytes(self._handle())

    @property
    def bos(self):
        return lib().mb_token_bos(self._handle())

    @property
    def eos(self):
        return lib().mb_token_eos(self._handle())

    def is_eog(self, token):
        return bool(lib().mb_token_is_eog(self._handle(), token))

    def load_lora(self, path, scale=1.0):
        """Apply a LoRA adapter; only before the first session is created."""
        _check(lib().mb_model_load_lora(self._handle(), os.fsencode(path), scale))

    # -- tokenizer --

    def tokenize(self, text, add_special=True, parse_special=False):
        """Token ids of TEXT (str or bytes). add_special adds BOS/EOS as the
        model's metadata says; parse_special reads "<s>"-like control-token
        text as the token."""
        b = _bytes(text)
        n = ctypes.c_size_t(0)
        h = self._handle()
        # A token covers at least one byte: one call is enough unless the
        # vocabulary adds many specials; a short buffer reports the need.
        buf = (_capi.c_token * (len(b) + 8))()
        st = lib().mb_tokenize(h, b, len(b), int(add_special), int(parse_special), buf, len(buf),
                               ctypes.byref(n))
        if st != 0 and n.value > len(buf):
            buf = (_capi.c_token * n.value)()
            st = lib().mb_tokenize(h, b, len(b), int(add_special), int(parse_special), buf,
                                   len(buf), ctypes.byref(n))
        _check(st)
        return buf[: n.value]

    def token_to_piece(self, token, special=False):
        """The bytes of one token as they appear in text (a byte token may be
        part of a UTF-8 character). Control tokens give b"" unless special."""
        h = self._handle()
        n = ctypes.c_size_t(0)
        buf = ctypes.create_string_buffer(64)
        st = lib().mb_token_to_piece(h, token, int(special), buf, len(buf), ctypes.byref(n))
        if st != 0 and n.value > len(buf):
            buf = ctypes.create_string_buffer(n.value)
            st = lib().mb_token_to_piece(h, token, int(special), buf, len(buf), ctypes.byref(n))
        _check(st)
        return buf.raw[: n.value]

    def detokenize(self, tokens, special=False):
        """The text of TOKENS: their pieces joined, then decoded (invalid
        UTF-8 becomes U+FFFD). SentencePiece vocabularies give the text's
        leading space too, as generation does."""
        return b"".join(self.token_to_piece(t, special) for t in tokens).decode("utf-8", "replace")

    # -- chat templates --

    @property
    def has_chat_template(self):
        return bool(lib().mb_chat_has_template(self._handle()))

    def set_chat_template(self, text):
        """Use TEXT (a Jinja chat template) instead of the file's."""
        b = _bytes(text)
        _check(lib().mb_model_set_chat_template(self._handle(), b, len(b)))

    def chat_template_name(self, template=None):
        """(name, is_fallback): the template family rendering uses."""
        name = ctypes.c_char_p()
        fb = ctypes.c_int(0)
        ov = _bytes(template) if template is not None else None
        _check(lib().mb_chat_template_name(self._handle(), ov, ctypes.byref(name), ctypes.byref(fb)))
        return name.value.decode(), bool(fb.value)

    def apply_chat_template(self, messages, template=None, add_generation_prompt=True,
                            template_text=None, tools=None, variables=None, now=None):
        """The prompt text of MESSAGES (a list of {"role", "content", ...}).

        template: a built-in family (chat_template_names()) or "jinja" (the
        model's own); None: the model's own, ChatML when it has none.
        template_text: a Jinja template to render instead; tools (a list),
        variables (a dict: enable_thinking, bos_token, ...) and now
        ("YYYY-MM-DDTHH:MM:SS") reach a Jinja template. Messages with other
        keys than role and content (tool_calls, ...) are rendered by Jinja."""
        jinja = template_text is not None or tools is not None or variables is not None
        jinja = jinja or now is not None
        jinja = jinja or any(set(m) - {"role", "content"} for m in messages)
        if jinja:
            if template is not None and template != "jinja" and template_text is None:
                raise ValueError("tools, variables, now and extra message keys need a Jinja "
                                 "template, not the built-in %r" % template)
            return self._render_jinja(messages, add_generation_prompt, template_text, tools,
                                      variables, now)
        return _chat_apply(self._handle(), messages, template, add_generation_prompt)

    def _render_jinja(self, messages, add_gen, template_text, tools, variables, now):
        import json

        p = _capi.default_struct(_capi.ChatRenderParams)
        keep = [json.dumps(messages).encode("utf-8")]
        p.messages_json = keep[-1]
        if tools is not None:
            keep.append(json.dumps(tools).encode("utf-8"))
            p.tools_json = keep[-1]
        if variables is not None:
            keep.append(json.dumps(variables).encode("utf-8"))
            p.vars_json = keep[-1]
        if template_text is not None:
            keep.append(_bytes(template_text))
            p.template_text, p.template_len = keep[-1], len(keep[-1])
        if now is not None:
            keep.append(_bytes(now))
            p.now = keep[-1]
        p.add_generation_prompt = 1 if add_gen else 0
        out = ctypes.c_void_p()
        n = ctypes.c_size_t(0)
        _check(lib().mb_chat_render_template(self._handle(), ctypes.byref(p), ctypes.byref(out),
                                             ctypes.byref(n)))
        try:
            return ctypes.string_at(out, n.value).decode("utf-8", "replace")
        finally:
            _capi.free(out)

    def chat_add_special(self, text):
        """Whether a rendered chat should be tokenized with add_special (0 when
        it already starts with the BOS text)."""
        b = _bytes(text)
        return bool(lib().mb_chat_add_special(self._handle(), b, len(b)))


def _chat_apply(handle, messages, template, add_gen):
    keep = []
    arr = (_capi.ChatMessage * max(len(messages), 1))()
    for i, m in enumerate(messages):
        role, content = _bytes(m["role"]), _bytes(m.get("content") or "")
        keep += [role, content]
        arr[i].role, arr[i].content = role, content
    ov = _bytes(template) if template is not None else None
    n = ctypes.c_size_t(0)
    st = lib().mb_chat_apply(handle, ov, arr, len(messages), int(add_gen), None, 0, ctypes.byref(n))
    if st != 0 and n.value == 0:  # a measuring call may report the short buffer
        _check(st)
    buf = ctypes.create_string_buffer(n.value + 1)
    _check(lib().mb_chat_apply(handle, ov, arr, len(messages), int(add_gen), buf, len(buf),
                               ctypes.byref(n)))
    return buf.raw[: n.value].decode("utf-8", "replace")


class Sampler(_Closing):
    """Token choice from logits. Keyword arguments are mb_sampler_params
    fields: temperature (<= 0: greedy), top_k, top_p, min_p, repeat_penalty,
    presence_penalty, frequency_penalty, repeat_last_n, seed. Without a seed
    (or seed=None) a random one is drawn, as `matchbox run` does; .params
    holds every value used, the seed included."""

    def __init__(self, n_vocab, **params):
        if isinstance(n_vocab, Model):
            n_vocab = n_vocab.n_vocab
        self._h = None
        if params.get("seed") is None:
            params["seed"] = int.from_bytes(os.urandom(8), "little") >> 1
        p = _capi.default_struct(_capi.SamplerParams)
        _set_fields(p, params, "sampler")
        self.params = {f[0]: getattr(p, f[0]) for f in p._fields_}
        h = ctypes.c_void_p()
        _check(lib().mb_sampler_new(ctypes.byref(p), n_vocab, ctypes.byref(h)))
        self._h = h

    def _handle(self):
        if self._h is None:
            raise ValueError("the sampler is closed")
        return self._h

    def accept(self, token):
        """Remember TOKEN for the repetition penalties."""
        lib().mb_sampler_accept(self._handle(), token)

    def sample(self, session):
        """A token from SESSION's current logits."""
        return lib().mb_sampler_sample(self._handle(), session._logits_ptr())

    def close(self):
        if self._h is not None:
            h, self._h = self._h, None
            lib().mb_sampler_free(h)


class _Busy:
    """A session is used by one thread at a time: a second caller fails
    instead of corrupting the KV cache."""

    def __init__(self, session):
        self.s = session

    def __enter__(self):
        if not self.s._lock.acquire(blocking=False):
            raise RuntimeError("the session is in use by another call")
        self.s._cancel.clear()
        del self.s._poll_error[:]
        try:
            return self.s._handle()
        except BaseException:
            self.s._lock.release()
            raise

    def __exit__(self, exc_type, exc, tb):
        self.s._lock.release()
        # An exception caught in the abort poll (a KeyboardInterrupt during a
        # long prefill) replaces the MB_ERR_ABORTED it caused.
        if self.s._poll_error and (exc_type is None or exc_type is MatchboxError):
            raise self.s._poll_error.pop()


def _abort_poll(cancel, errors):
    """The session's abort callback: polled by the library between prefill
    chunks and layers, so cancel() and Ctrl-C (Python runs signal handlers
    here) stop a long evaluation."""

    def poll(_user):
        try:
            return 1 if cancel.is_set() else 0
        except BaseException as e:
            errors.append(e)
            return 1

    return _capi.ABORT_CB(poll)


class Session(_Closing):
    """A KV cache and the buffers of one conversation. Keyword arguments
    are mb_session_params fields (n_ctx 0: min(4096, trained); n_threads 0:
    physical cores; verbose; swa_full; kv_type_k, kv_type_v: GGUF type ids,
    1 F16, 8 Q8_0, 2 Q4_0)."""

    def __init__(self, model, **params):
        self._h = None
        self._lock = threading.Lock()
        p = _capi.default_struct(_capi.SessionParams)
        _set_fields(p, params, "session")
        h = ctypes.c_void_p()
        mh = model._acquire()  # counted before the C call: a close() meanwhile waits
        try:
            _check(lib().mb_session_new(mh, ctypes.byref(p), ctypes.byref(h)))
        except BaseException:
            model._release()
            raise
        self._h = h
        self.model = model
        self._cancel = threading.Event()
        self._poll_error = []
        if _capi.has("mb_session_set_abort"):
            self._abort_cb = _abort_poll(self._cancel, self._poll_error)
            lib().mb_session_set_abort(h, self._abort_cb, None)
        # The tokens the cache holds at positions 0..n_past-1, so that a
        # later generate() evaluates only what differs (prefix reuse).
        self._tokens = []

    def _handle(self):
        if self._h is None:
            raise ValueError("the session is closed")
        return self._h

    def cancel(self):
        """Stop the call running on this session (from any thread): a
        generation ends with stop_reason "aborted" (or, in its prefill,
        MatchboxError MB_ERR_ABORTED), an eval raises MB_ERR_ABORTED. Needs a
        library with mb_session_set_abort; the next call runs normally."""
        self._cancel.set()

    def close(self):
        if self._h is not None:
            h, self._h = self._h, None
            lib().mb_session_free(h)
            self.model._release()

    @property
    def n_ctx(self):
        return lib().mb_session_n_ctx(self._handle())

    @property
    def n_past(self):
        return lib().mb_session_n_past(self._handle())

    @property
    def n_threads(self):
        return lib().mb_session_n_threads(self._handle())

    @property
    def kv_bytes(self):
        return lib().mb_session_kv_bytes(self._handle())

    @property
    def tokens(self):
        """The tokens the cache holds (positions 0..n_past-1)."""
        return list(self._tokens)

    def eval(self, tokens):
        """Feed TOKENS at the current position; logits() then gives the last
        one's. MatchboxError (status MB_ERR_CONTEXT_FULL) if they do not fit."""
        tokens = list(tokens)
        arr = (_capi.c_token * max(len(tokens), 1))(*tokens)
        with _Busy(self) as h:
            _check(lib().mb_session_eval(h, arr, len(tokens)))
            self._tokens += tokens

    def _logits_ptr(self):
        p = lib().mb_session_logits(self._handle())
        if not p:
            raise ValueError("no logits: nothing has been evaluated")
        return p

    def logits(self):
        """A copy of the last evaluated position's logits (array of floats)."""
        p = self._logits_ptr()
        n = self.model.n_vocab
        out = array.array("f", bytes(4 * n))
        ctypes.memmove(out.buffer_info()[0], p, 4 * n)
        return out

    def embed(self, tokens, pooling="mean", normalize=True):
        """The pooled final hidden state of TOKENS (array('f') of n_embd
        floats), evaluated from an empty cache: the mean over the tokens or
        the last token's (POOLING "last"), L2-normalized when NORMALIZE. The
        session is empty afterwards."""
        tokens = list(tokens)
        if pooling not in ("mean", "last"):
            raise ValueError("pooling must be 'mean' or 'last'")
        n = self.model.n_embd
        out = (ctypes.c_float * n)()
        arr = (_capi.c_token * max(len(tokens), 1))(*tokens)
        how = _capi.CONSTANTS["MB_POOL_LAST" if pooling == "last" else "MB_POOL_MEAN"]
        with _Busy(self) as h:
            st = lib().mb_session_embed(h, arr, len(tokens), how, 1 if normalize else 0, out)
            if lib().mb_session_n_past(h) == 0:
                del self._tokens[:]
            _check(st)
        return array.array("f", out)

    def rewind(self, pos):
        """Forget everything from position POS on (0 clears the cache)."""
        with _Busy(self) as h:
            _check(lib().mb_session_rewind(h, pos))
            del self._tokens[pos:]

    def generate(self, prompt, max_tokens=-1, stop=None, sampler=None, on_text=None,
                 on_token=None, stream=False, reuse_cache=True, add_special=True,
                 parse_special=True, **sampling):
        """Generate a continuation; see matchbox.generate (in __init__)."""
        from ._generate import run

        return run(self, prompt, max_tokens, stop, sampler, on_text, on_token, stream,
                   reuse_cache, add_special, parse_special, sampling)

    def chat(self, messages, template=None, template_text=None, tools=None, variables=None,
             now=None, **kwargs):
        """Render MESSAGES with the model's chat template, tokenize it as a
        chat is (BOS not doubled, special tokens parsed) and generate the
        assistant's answer; keyword arguments as generate()."""
        text = self.model.apply_chat_template(messages, template, True, template_text, tools,
                                              variables, now)
        ids = self.model.tokenize(text, self.model.chat_add_special(text), True)
        return self.generate(ids, **kwargs)
