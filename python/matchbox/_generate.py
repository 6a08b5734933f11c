"""Session.generate: one mb_generate call with Python callbacks, returned as
a Result, or run on a worker thread and handed out piece by piece (Stream).

An exception raised in a callback stops the generation (the callback returns
non-zero to the library) and is raised again once mb_generate has returned,
so the C stack is never unwound through."""

import ctypes
import queue
import threading

from . import _capi
from ._capi import lib
from ._core import Sampler, _Busy, _bytes, _check, _Closing


class Result:
    """What generate() returns: text, tokens (the generated ids, an
    end-of-generation token not included), n_prompt, n_cached (prompt tokens
    taken from the cache), n_generated, prefill_seconds, decode_seconds,
    stop_reason ("max_tokens", "eog", "stop_string", "callback",
    "context_full" or "aborted") and seed (the sampler's)."""

    def __init__(self, text, tokens, stats, seed):
        self.text = text
        self.tokens = tokens
        self.seed = seed
        self.n_prompt = stats.n_prompt
        self.n_cached = stats.n_cached
        self.n_generated = stats.n_generated
        self.prefill_seconds = stats.prefill_seconds
        self.decode_seconds = stats.decode_seconds
        code = getattr(stats, "stop_reason", getattr(stats, "stopped_by", -1))
        self.stop_reason = (
            _capi.STOP_REASONS[code] if 0 <= code < len(_capi.STOP_REASONS) else str(code)
        )

    def __str__(self):
        return self.text

    def __repr__(self):
        return "Result(text=%r, n_generated=%d, stop_reason=%r)" % (
            self.text, self.n_generated, self.stop_reason)


class _Job:
    def __init__(self, session, ids, max_tokens, stop, sampler, on_text, on_token, reuse):
        self.session, self.ids, self.reuse = session, ids, reuse
        self.max_tokens = -1 if max_tokens is None else int(max_tokens)
        if isinstance(stop, (str, bytes)):
            stop = [stop]
        self.stop = [_bytes(s) for s in (stop or [])]
        self.sampler, self.on_text, self.on_token = sampler, on_text, on_token
        self.error = None

    def call(self, emit=None, cancelled=None):
        """Run mb_generate; EMIT(piece) also gets each piece, and CANCELLED()
        true stops the generation. Returns a Result or raises."""
        pieces, generated = [], []

        def text_cb(ptr, n, _user):
            try:
                piece = ctypes.string_at(ptr, n).decode("utf-8", "replace")
                pieces.append(piece)
                if emit is not None:
                    emit(piece)
                if self.on_text is not None and self.on_text(piece):
                    return 1
                return 1 if cancelled is not None and cancelled() else 0
            except BaseException as e:  # KeyboardInterrupt too: stop, raise later
                self.error = self.error or e
                return 1

        def token_cb(token, _logits, _n_vocab, _user):
            try:
                generated.append(token)
                if self.on_token is not None and self.on_token(token):
                    return 1
                return 1 if cancelled is not None and cancelled() else 0
            except BaseException as e:
                self.error = self.error or e
                return 1

        # The ctypes callback objects and the stop strings must outlive the
        # call: they are locals of this frame until it returns.
        c_text, c_token = _capi.TEXT_CB(text_cb), _capi.TOKEN_CB(token_cb)
        c_stop = (ctypes.c_char_p * (len(self.stop) + 1))(*self.stop, None)
        p = _capi.default_struct(_capi.GenerateParams)
        p.n_predict = self.max_tokens
        p.stop = ctypes.cast(c_stop, ctypes.POINTER(ctypes.c_char_p))
        p.on_text, p.on_token = c_text, c_token
        stats = _capi.GenerateStats()
        ids = self.ids
        arr = (_capi.c_token * max(len(ids), 1))(*ids)
        s = self.session
        with _Busy(s) as h:
            cached = 0
            if self.reuse:
                old = s._tokens
                limit = min(len(old), len(ids) - 1)
                while cached < limit and old[cached] == ids[cached]:
                    cached += 1
            if lib().mb_session_n_past(h) != cached:
                _check(lib().mb_session_rewind(h, cached))
            del s._tokens[cached:]
            p.n_cached = cached
            try:
                st = lib().mb_generate(h, self.sampler._handle(), arr, len(ids), ctypes.byref(p),
                                       ctypes.byref(stats))
            finally:
                # The cache holds the prompt, then the generated tokens it fed.
                s._tokens = (list(ids) + generated)[: lib().mb_session_n_past(h)]
            _check(st)
        if self.error is not None:
            e, self.error = self.error, None
            raise e
        return Result("".join(pieces), generated[: stats.n_generated], stats,
                      self.sampler.params["seed"])


_DONE = object()


class Stream(_Closing):
    """Iterate over the pieces of text as they are generated; afterwards
    .result holds the Result (text, stats). The generation runs on a worker
    thread; close() (or leaving a with block, or dropping the iterator)
    stops it at the next token. An error is raised from the iteration."""

    def __init__(self, job, cleanup):
        self._job, self._cleanup = job, cleanup
        self._q = queue.Queue()
        self._cancel = threading.Event()
        self._thread = None
        self._error = None
        self.result = None

    def _work(self):
        try:
            self.result = self._job.call(self._q.put, self._cancel.is_set)
        except BaseException as e:
            self._error = e
        finally:
            self._cleanup()
            self._q.put(_DONE)

    def __iter__(self):
        return self

    def __next__(self):
        if self._thread is None:
            if self._cancel.is_set():
                raise StopIteration  # closed before it started
            self._thread = threading.Thread(target=self._work, daemon=True)
            self._thread.start()
        item = self._q.get()
        if item is _DONE:
            self._q.put(_DONE)  # later next() calls end too
            self._thread.join()
            if self._error is not None:
                e, self._error = self._error, None
                raise e
            raise StopIteration
        return item

    @property
    def text(self):
        return self.result.text if self.result is not None else None

    def close(self):
        self._cancel.set()
        if self._thread is not None:
            if self._thread.is_alive():
                self._job.session.cancel()  # stops a prefill too, where the library can
            self._thread.join()
        else:
            self._cleanup()


def run(session, prompt, max_tokens, stop, sampler, on_text, on_token, stream, reuse,
        add_special, parse_special, sampling):
    model = session.model
    if isinstance(prompt, (str, bytes)):
        ids = model.tokenize(prompt, add_special, parse_special)
    else:
        ids = [int(t) for t in prompt]
    if sampler is not None and sampling:
        raise TypeError("give sampling parameters or a sampler, not both")
    own = sampler is None
    if own:
        sampler = Sampler(model.n_vocab, **sampling)
    job = _Job(session, ids, max_tokens, stop, sampler, on_text, on_token, reuse)
    done = [False]

    def cleanup():
        if own and not done[0]:
            done[0] = True
            sampler.close()

    if stream:
        return Stream(job, cleanup)
    try:
        return job.call()
    finally:
        cleanup()
