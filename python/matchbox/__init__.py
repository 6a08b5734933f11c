"""matchbox from Python: a binding of libmatchbox's C API (include/matchbox.h)
with the standard library's ctypes only. docs/PYTHON.md has the guide.

    import matchbox
    with matchbox.Model("stories260K.gguf") as model, matchbox.Session(model) as s:
        r = s.generate("Once upon a time", max_tokens=32, temperature=0)
        print(r.text, r.stop_reason)
        for piece in s.generate("The cat", max_tokens=32, stream=True):
            print(piece, end="", flush=True)

The library is found through $MATCHBOX_LIB (a path to libmatchbox.so), else
next to this package, else the source tree's build/lib, else the system's
library path. It is loaded on first use.

Session.generate(prompt, max_tokens=-1, stop=None, sampler=None,
on_text=None, on_token=None, stream=False, reuse_cache=True,
add_special=True, parse_special=True, **sampling):
  prompt is text (tokenized with BOS and special tokens parsed, as `matchbox
  run` does) or a list of token ids. sampling: temperature (<= 0 greedy),
  top_k, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty,
  repeat_last_n, seed; the library's defaults otherwise. on_text(piece) is
  called with each piece of text (whole UTF-8 characters, never part of a
  stop string), on_token(id) with each sampled id; either returns true to
  stop. reuse_cache: evaluate only the part of the prompt that differs from
  what the session already holds. Returns a Result, or with stream=True a
  Stream to iterate over the pieces (its .result is set at the end).
"""

from ._capi import library_candidates, lib as _lib
from ._core import (
    MatchboxError,
    Model,
    Sampler,
    Session,
    chat_template_names,
    kernels_name,
    set_log_callback,
    version,
)
from ._generate import Result, Stream

__all__ = [
    "MatchboxError",
    "Model",
    "Result",
    "Sampler",
    "Session",
    "Stream",
    "chat_template_names",
    "kernels_name",
    "library_candidates",
    "load_library",
    "set_log_callback",
    "version",
]


def load_library():
    """Load libmatchbox now (it is otherwise loaded on first use); returns
    the ctypes handle. Raises OSError naming the places tried."""
    return _lib()
