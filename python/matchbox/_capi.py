"""The C API as ctypes sees it: where libmatchbox is found, the structs that
mirror include/matchbox.h, and the prototypes of the functions.

Everything that must change when include/matchbox.h changes is in this file,
between the MIRROR markers below. tests/test_python.py compiles a C program
against the header and compares every mirrored struct's size, field offsets
and field sizes, and every mirrored constant, with what is written here, so a
drift fails the test instead of corrupting memory.

Params structs are never built from scratch: they come from the library's
mb_*_default_params() (see default_struct), so fields this file does not know
about keep the library's defaults.
"""

import ctypes
import ctypes.util
import os
import threading

# ---------------------------------------------------------------------------
# Finding and loading the library
# ---------------------------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))


def library_candidates():
    """Where the shared library is looked for, in order: $MATCHBOX_LIB, next
    to this package, the source tree's build/lib (python/ sits beside build/),
    then the system's search path (ctypes.util.find_library)."""
    out = []
    env = os.environ.get("MATCHBOX_LIB")
    if env:
        out.append(env)
    for d in (_HERE, os.path.dirname(_HERE)):
        out.append(os.path.join(d, "libmatchbox.so"))
    root = os.path.dirname(os.path.dirname(_HERE))
    out.append(os.path.join(root, "build", "lib", "libmatchbox.so"))
    found = ctypes.util.find_library("matchbox")
    if found:
        out.append(found)
    return out


_lock = threading.Lock()
_lib = None


def lib():
    """The loaded library (loaded on first use). $MATCHBOX_LIB, when set, is
    the only place looked at: a wrong path is an error, not a fallback."""
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        env = os.environ.get("MATCHBOX_LIB")
        paths = [env] if env else library_candidates()
        errors = []
        for p in paths:
            if os.sep in p and not os.path.exists(p):
                errors.append("%s: not found" % p)
                continue
            try:
                handle = ctypes.CDLL(p)
            except OSError as e:
                errors.append("%s: %s" % (p, e))
                continue
            _declare(handle)
            _lib = handle
            return _lib
        raise OSError(
            "libmatchbox.so could not be loaded; set MATCHBOX_LIB to its path "
            "(build it with cmake: build/lib/libmatchbox.so). Tried:\n  "
            + "\n  ".join(errors)
        )


# ---------------------------------------------------------------------------
# MIRROR of include/matchbox.h -- keep in step with the header.
# tests/test_python.py checks every struct in STRUCTS and every name in
# CONSTANTS against the header with a C compiler.
# ---------------------------------------------------------------------------

c_token = ctypes.c_int32  # mb_token
c_status = ctypes.c_int  # mb_status (an enum)

# mb_status
CONSTANTS = {
    "MB_OK": 0,
    "MB_ERR_IO": 1,
    "MB_ERR_FORMAT": 2,
    "MB_ERR_UNSUPPORTED": 3,
    "MB_ERR_INVALID_ARG": 4,
    "MB_ERR_NO_MEMORY": 5,
    "MB_ERR_CONTEXT_FULL": 6,
    "MB_ERR_ABORTED": 7,
    "MB_ERR_BUSY": 8,
    # mb_stop_reason: STOP_REASONS below names them in this order
    "MB_STOP_MAX_TOKENS": 0,
    "MB_STOP_EOG": 1,
    "MB_STOP_STRING": 2,
    "MB_STOP_CALLBACK": 3,
    "MB_STOP_CONTEXT_FULL": 4,
    "MB_STOP_ABORTED": 5,
    # mb_log_level
    "MB_LOG_ERROR": 0,
    "MB_LOG_WARN": 1,
    "MB_LOG_INFO": 2,
    "MB_LOG_DEBUG": 3,
    # mb_session_embed's pooling
    "MB_POOL_MEAN": 0,
    "MB_POOL_LAST": 1,
}

# mb_stop_reason (mb_generate_stats.stop_reason): each value's name in
# Result.stop_reason, in the order of the MB_STOP_* values above.
STOP_REASONS = ("max_tokens", "eog", "stop_string", "callback", "context_full", "aborted")

# Callbacks. The text pointer is a void pointer: the text is LEN bytes, not
# NUL-terminated, and ctypes would otherwise read it as a C string.
TEXT_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
TOKEN_CB = ctypes.CFUNCTYPE(
    ctypes.c_int, c_token, ctypes.POINTER(ctypes.c_float), ctypes.c_int, ctypes.c_void_p
)


class ModelParams(ctypes.Structure):
    _c_name_ = "mb_model_params"
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("use_mmap", ctypes.c_int),
        ("use_mlock", ctypes.c_int),
        ("verbose", ctypes.c_int),
        ("vocab_only", ctypes.c_int),
        ("tokenizer_pre", ctypes.c_char_p),
        ("mem_budget", ctypes.c_uint64),
        ("repack", ctypes.c_int),
    ]


class SessionParams(ctypes.Structure):
    _c_name_ = "mb_session_params"
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("n_ctx", ctypes.c_int),
        ("n_threads", ctypes.c_int),
        ("verbose", ctypes.c_int),
        ("swa_full", ctypes.c_int),
        ("kv_type_k", ctypes.c_uint32),
        ("kv_type_v", ctypes.c_uint32),
    ]


class SamplerParams(ctypes.Structure):
    _c_name_ = "mb_sampler_params"
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_int),
        ("top_p", ctypes.c_float),
        ("min_p", ctypes.c_float),
        ("repeat_penalty", ctypes.c_float),
        ("presence_penalty", ctypes.c_float),
        ("frequency_penalty", ctypes.c_float),
        ("repeat_last_n", ctypes.c_int),
        ("seed", ctypes.c_uint64),
    ]


class GenerateParams(ctypes.Structure):
    _c_name_ = "mb_generate_params"
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("n_predict", ctypes.c_int),
        ("stop", ctypes.POINTER(ctypes.c_char_p)),
        ("on_text", TEXT_CB),
        ("on_token", TOKEN_CB),
        ("user", ctypes.c_void_p),
        ("n_cached", ctypes.c_size_t),
        ("speculative", ctypes.c_void_p),  # mb_speculative_params *: not used here (NULL)
    ]


class GenerateStats(ctypes.Structure):
    _c_name_ = "mb_generate_stats"
    _fields_ = [
        ("n_prompt", ctypes.c_int),
        ("n_generated", ctypes.c_int),
        ("n_cached", ctypes.c_int),
        ("prefill_seconds", ctypes.c_double),
        ("decode_seconds", ctypes.c_double),
        ("stop_reason", ctypes.c_int),  # mb_stop_reason
        ("n_drafted", ctypes.c_int),
        ("n_accepted", ctypes.c_int),
        ("n_forwards", ctypes.c_int),
    ]


class ChatMessage(ctypes.Structure):
    _c_name_ = "mb_chat_message"
    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


class ChatRenderParams(ctypes.Structure):
    _c_name_ = "mb_chat_render_params"
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("messages_json", ctypes.c_char_p),
        ("tools_json", ctypes.c_char_p),
        ("vars_json", ctypes.c_char_p),
        ("template_text", ctypes.c_char_p),
        ("template_len", ctypes.c_size_t),
        ("add_generation_prompt", ctypes.c_int),
        ("now", ctypes.c_char_p),
    ]


STRUCTS = (
    ModelParams,
    SessionParams,
    SamplerParams,
    GenerateParams,
    GenerateStats,
    ChatMessage,
    ChatRenderParams,
)

# The struct each mb_*_default_params() returns. A struct without an entry
# (or whose function the loaded library lacks) starts zeroed.
DEFAULTS = {
    ModelParams: "mb_model_default_params",
    SessionParams: "mb_session_default_params",
    SamplerParams: "mb_sampler_default_params",
    GenerateParams: "mb_generate_default_params",
    ChatRenderParams: "mb_chat_render_default_params",
}

_p = ctypes.POINTER
_vp = ctypes.c_void_p  # opaque handles: mb_model *, mb_session *, mb_sampler *
_sz = ctypes.c_size_t

# name: (restype, argtypes). Names marked optional (second table) may be
# missing from an older library; the binding checks before it calls them.
PROTOTYPES = {
    "mb_status_str": (ctypes.c_char_p, [c_status]),
    "mb_last_error": (ctypes.c_char_p, []),
    "mb_kernels_name": (ctypes.c_char_p, []),
    "mb_model_load": (c_status, [ctypes.c_char_p, _p(ModelParams), _p(_vp)]),
    "mb_model_free": (None, [_vp]),
    "mb_model_load_lora": (c_status, [_vp, ctypes.c_char_p, ctypes.c_float]),
    "mb_model_n_vocab": (ctypes.c_int, [_vp]),
    "mb_model_n_ctx_train": (ctypes.c_int, [_vp]),
    "mb_model_uses_mmap": (ctypes.c_int, [_vp]),
    "mb_model_weight_bytes": (ctypes.c_uint64, [_vp]),
    "mb_model_desc": (ctypes.c_char_p, [_vp]),
    "mb_tokenize": (
        c_status,
        [_vp, ctypes.c_char_p, _sz, ctypes.c_int, ctypes.c_int, _p(c_token), _sz, _p(_sz)],
    ),
    "mb_token_to_piece": (c_status, [_vp, c_token, ctypes.c_int, ctypes.c_char_p, _sz, _p(_sz)]),
    "mb_token_bos": (c_token, [_vp]),
    "mb_token_eos": (c_token, [_vp]),
    "mb_token_is_eog": (ctypes.c_int, [_vp, c_token]),
    "mb_session_new": (c_status, [_vp, _p(SessionParams), _p(_vp)]),
    "mb_session_free": (None, [_vp]),
    "mb_session_n_ctx": (ctypes.c_int, [_vp]),
    "mb_session_n_past": (ctypes.c_int, [_vp]),
    "mb_session_kv_bytes": (ctypes.c_uint64, [_vp]),
    "mb_session_n_threads": (ctypes.c_int, [_vp]),
    "mb_session_eval": (c_status, [_vp, _p(c_token), _sz]),
    "mb_session_logits": (_p(ctypes.c_float), [_vp]),
    "mb_session_rewind": (c_status, [_vp, ctypes.c_int]),
    "mb_model_n_embd": (ctypes.c_int, [_vp]),
    "mb_session_embed": (c_status, [_vp, _p(c_token), _sz, ctypes.c_int, ctypes.c_int,
                                    _p(ctypes.c_float)]),
    "mb_sampler_new": (c_status, [_p(SamplerParams), ctypes.c_int, _p(_vp)]),
    "mb_sampler_free": (None, [_vp]),
    "mb_sampler_accept": (None, [_vp, c_token]),
    "mb_sampler_sample": (c_token, [_vp, _p(ctypes.c_float)]),
    "mb_generate": (
        c_status,
        [_vp, _vp, _p(c_token), _sz, _p(GenerateParams), _p(GenerateStats)],
    ),
    "mb_chat_template_names": (ctypes.c_char_p, []),
    "mb_chat_template_name": (
        c_status,
        [_vp, ctypes.c_char_p, _p(ctypes.c_char_p), _p(ctypes.c_int)],
    ),
    "mb_chat_apply": (
        c_status,
        [_vp, ctypes.c_char_p, _p(ChatMessage), _sz, ctypes.c_int, ctypes.c_char_p, _sz, _p(_sz)],
    ),
    # *out is malloc'd: a void pointer, so that ctypes does not copy it into a
    # bytes object and lose the address free() needs.
    "mb_chat_render_template": (c_status, [_vp, _p(ChatRenderParams), _p(_vp), _p(_sz)]),
    "mb_model_set_chat_template": (c_status, [_vp, ctypes.c_char_p, _sz]),
    "mb_chat_has_template": (ctypes.c_int, [_vp]),
    "mb_chat_add_special": (ctypes.c_int, [_vp, ctypes.c_char_p, _sz]),
}

# Newer calls (the abort and log callbacks, mb_version): used when the
# loaded library has them.
ABORT_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
LOG_CB = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

OPTIONAL_PROTOTYPES = {
    "mb_version": (ctypes.c_char_p, []),
    "mb_session_set_abort": (None, [_vp, ABORT_CB, ctypes.c_void_p]),
    "mb_log_set": (None, [LOG_CB, ctypes.c_void_p]),
}

# ---------------------------------------------------------------------------
# end of the MIRROR
# ---------------------------------------------------------------------------


def _declare(handle):
    for name, (res, args) in PROTOTYPES.items():
        f = getattr(handle, name)  # AttributeError names a missing symbol
        f.restype, f.argtypes = res, args
    for cls, name in DEFAULTS.items():
        if hasattr(handle, name):
            f = getattr(handle, name)
            f.restype, f.argtypes = cls, []
    for name, (res, args) in OPTIONAL_PROTOTYPES.items():
        if hasattr(handle, name):
            f = getattr(handle, name)
            f.restype, f.argtypes = res, args
    # free() for the strings the library mallocs, from the C library the
    # process already has.
    libc = ctypes.CDLL(None)
    libc.free.restype, libc.free.argtypes = None, [ctypes.c_void_p]
    handle._mb_free = libc.free


def has(name):
    """Whether the loaded library exports NAME (for newer, optional calls)."""
    return hasattr(lib(), name)


def default_struct(cls):
    """A params struct as the library's mb_*_default_params() gives it; zeroed
    when the library has no such function (then struct_size, if the struct
    has one, is set to its size)."""
    name = DEFAULTS.get(cls)
    if name and has(name):
        return getattr(lib(), name)()
    s = cls()
    if "struct_size" in (f[0] for f in cls._fields_):
        s.struct_size = ctypes.sizeof(cls)
    return s


def free(ptr):
    """free() a pointer the library returned as its caller's to free."""
    lib()._mb_free(ptr)
