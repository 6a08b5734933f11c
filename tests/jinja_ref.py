#!/usr/bin/python3
"""Reference chat-template renderer: renders a Jinja chat template exactly as
Hugging Face transformers does (apply_chat_template), with Debian's
python3-jinja2. Run it with /usr/bin/python3 (the interpreter that sees
python3-jinja2).

Single case, the same arguments as `matchbox chat-template --file`:

  jinja_ref.py --file T.jinja --messages CONV.json [--tools TOOLS.json]
               [--no-generation-prompt] [--var k=v ...] [--now 2026-01-02T03:04:05]

prints the rendered text on stdout exactly (UTF-8, nothing added) and exits 0;
on an error prints its message on stderr and exits 1.

The modes test_chat_template_ref.sh uses (one process for all cases):

  jinja_ref.py --batch CASES --out DIR
    CASES has one case a line: an id, then that case's arguments, separated
    by tabs. For each case it writes DIR/ID.out (the rendered text, or
    nothing), DIR/ID.err (the error message, or nothing) and DIR/ID.kind:
    "ok", "raise" (the template called raise_exception; .err holds its
    message exactly) or "error" (any other error: syntax, undefined, ...).
  jinja_ref.py --compare CASES REFDIR MBDIR
    compares each case's reference result with matchbox's (MBDIR/ID.out,
    ID.err, ID.rc): prints a line per failing case, the number of cases
    where both raised, and "N passed, M failed"; exits 1 if M > 0.
  jinja_ref.py --report CASES REFDIR
    the reference side alone: counts, and which cases raise and why.
"""
import datetime
import json
import os
import sys

import jinja2
import jinja2.exceptions
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox


class TemplateRaised(jinja2.exceptions.TemplateError):
    """What raise_exception raises (a TemplateError, as in transformers)."""


class GenerationTag(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %}: renders its body, as
    transformers' AssistantTracker does (it only marks assistant tokens)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(
            self.call_method("_render_body"), [], [], body
        ).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def raise_exception(message):
    raise TemplateRaised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(
        x,
        ensure_ascii=ensure_ascii,
        indent=indent,
        separators=separators,
        sort_keys=sort_keys,
    )


def make_env(now):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[GenerationTag, jinja2.ext.loopcontrols],
    )

    def strftime_now(fmt):
        t = now if now is not None else datetime.datetime.now()
        return t.strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


class Args:
    def __init__(self):
        self.file = None
        self.messages = None
        self.tools = None
        self.gen_prompt = True
        self.vars = []
        self.now = None


def parse_args(argv):
    a = Args()
    i = 0

    def value(opt):
        nonlocal i
        i += 1
        if i >= len(argv):
            raise SystemExit("jinja_ref: %s needs a value" % opt)
        return argv[i]

    while i < len(argv):
        o = argv[i]
        if o == "--file":
            a.file = value(o)
        elif o == "--messages":
            a.messages = value(o)
        elif o == "--tools":
            a.tools = value(o)
        elif o == "--no-generation-prompt":
            a.gen_prompt = False
        elif o == "--var":
            v = value(o)
            if "=" not in v:
                raise SystemExit("jinja_ref: --var wants k=v, got %r" % v)
            a.vars.append(v.split("=", 1))
        elif o == "--now":
            a.now = datetime.datetime.fromisoformat(value(o))
        else:
            raise SystemExit("jinja_ref: unknown argument %r" % o)
        i += 1
    if a.file is None or a.messages is None:
        raise SystemExit("jinja_ref: --file and --messages are required")
    return a


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def var_value(v):
    try:
        return json.loads(v)
    except ValueError:
        return v


_templates = {}  # (path, now) -> compiled template (batch mode compiles once)


def render(a):
    """Returns the rendered text; raises on any error."""
    key = (a.file, a.now)
    tpl = _templates.get(key)
    if tpl is None:
        with open(a.file, encoding="utf-8") as f:
            src = f.read()
        tpl = make_env(a.now).from_string(src)
        _templates[key] = tpl
    ctx = {
        "messages": read_json(a.messages),
        "add_generation_prompt": a.gen_prompt,
        "bos_token": "",
        "eos_token": "",
    }
    if a.tools is not None:
        ctx["tools"] = read_json(a.tools)
    for k, v in a.vars:
        ctx[k] = var_value(v)
    return tpl.render(**ctx)


def message_of(e):
    if isinstance(e, TemplateRaised):
        return e.message if e.message is not None else ""
    name = type(e).__name__
    msg = str(e)
    lineno = getattr(e, "lineno", None)
    where = " (line %d)" % lineno if lineno else ""
    return "%s%s: %s" % (name, where, msg)


def run_batch(cases_path, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    n_ok = n_raise = n_err = 0
    with open(cases_path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    for line in lines:
        fields = line.split("\t")
        cid, argv = fields[0], fields[1:]
        out, err, kind = "", "", "ok"
        try:
            out = render(parse_args(argv))
            n_ok += 1
        except TemplateRaised as e:
            err, kind = message_of(e), "raise"
            n_raise += 1
        except Exception as e:  # noqa: BLE001 - any failure is a case result
            err, kind = message_of(e), "error"
            n_err += 1
        base = os.path.join(out_dir, cid)
        with open(base + ".out", "wb") as f:
            f.write(out.encode("utf-8", "surrogatepass"))
        with open(base + ".err", "wb") as f:
            f.write(err.encode("utf-8", "surrogatepass"))
        with open(base + ".kind", "w") as f:
            f.write(kind)
    sys.stderr.write(
        "jinja_ref: %d cases: %d rendered, %d raised, %d errors\n"
        % (len(lines), n_ok, n_raise, n_err)
    )


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def read_cases(cases_path):
    with open(cases_path, encoding="utf-8") as f:
        return [l.rstrip("\n").split("\t")[0] for l in f if l.strip()]


def short(b, n=200):
    """Bytes or text as one escaped line of at most n characters."""
    if isinstance(b, bytes):
        b = b.decode("utf-8", "replace")
    b = b.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return b[:n] + ("..." if len(b) > n else "")


def context(b, off):
    """About 60 bytes of b around byte offset off, escaped."""
    start = max(0, off - 20)
    return short(b[start:start + 60], 120)


def describe(cid):
    parts = cid.split("@")
    return "  ".join(parts) if len(parts) == 3 else cid


def run_compare(cases_path, ref_dir, mb_dir):
    n_pass = n_fail = n_both = 0
    for cid in read_cases(cases_path):
        what = describe(cid)
        ref = os.path.join(ref_dir, cid)
        mb = os.path.join(mb_dir, cid)
        kind = (read_bytes(ref + ".kind") or b"").decode()
        ref_out = read_bytes(ref + ".out") or b""
        ref_err = (read_bytes(ref + ".err") or b"").decode("utf-8", "replace")
        rc_text = read_bytes(mb + ".rc")
        mb_out = read_bytes(mb + ".out") or b""
        mb_err = (read_bytes(mb + ".err") or b"").decode("utf-8", "replace")
        why = None
        try:
            rc = int(rc_text)
        except (TypeError, ValueError):
            rc = None
        if rc is None:
            why = "matchbox was not run (no exit status)"
        elif rc >= 128 or rc < 0:
            why = "matchbox killed by signal %d (crash or CPU limit): %s" % (
                rc - 128 if rc >= 128 else -rc, short(mb_err))
        elif kind == "ok":
            if rc != 0:
                why = "reference renders, matchbox exits %d: %s" % (rc, short(mb_err))
            elif ref_out != mb_out:
                off = next((i for i, (x, y) in enumerate(zip(ref_out, mb_out)) if x != y),
                           min(len(ref_out), len(mb_out)))
                why = ("output differs at byte %d (reference %d bytes, matchbox %d):"
                       " ref [%s] mb [%s]" % (
                           off, len(ref_out), len(mb_out),
                           context(ref_out, off), context(mb_out, off)))
        elif kind in ("raise", "error"):
            if rc == 0:
                why = "reference fails (%s: %s), matchbox renders" % (kind, short(ref_err))
            elif kind == "raise" and ref_err not in mb_err:
                why = ("both fail, but matchbox's stderr lacks the template's message "
                       "[%s]: %s" % (short(ref_err), short(mb_err)))
            else:
                n_both += 1
        else:
            why = "no reference result"
        if why is None:
            n_pass += 1
        else:
            n_fail += 1
            print("FAIL: %s: %s" % (what, why))
    print("%d cases raised in both (counted as passed)" % n_both)
    print("%d passed, %d failed" % (n_pass, n_fail))
    sys.stdout.flush()
    return 1 if n_fail else 0


def run_report(cases_path, ref_dir):
    counts = {}
    groups = {}  # (template@conversation, kind, message) -> [variant]
    for cid in read_cases(cases_path):
        base = os.path.join(ref_dir, cid)
        kind = (read_bytes(base + ".kind") or b"?").decode()
        counts[kind] = counts.get(kind, 0) + 1
        if kind != "ok":
            tc, _, variant = cid.rpartition("@")
            msg = short(read_bytes(base + ".err") or b"", 160)
            groups.setdefault((tc, kind, msg), []).append(variant)
    for (tc, kind, msg), variants in sorted(groups.items()):
        print("%s [%s]: %s: %s" % (tc, ",".join(variants), kind, msg))
    print("reference: %d cases: %d render, %d raise (raise_exception), %d error" % (
        sum(counts.values()), counts.get("ok", 0), counts.get("raise", 0),
        counts.get("error", 0)))
    return 0


def main(argv):
    if len(argv) == 4 and argv[0] == "--compare":
        return run_compare(argv[1], argv[2], argv[3])
    if len(argv) == 3 and argv[0] == "--report":
        return run_report(argv[1], argv[2])
    if len(argv) >= 1 and argv[0] == "--batch":
        if len(argv) != 4 or argv[2] != "--out":
            raise SystemExit("usage: jinja_ref.py --batch CASES --out DIR")
        run_batch(argv[1], argv[3])
        return 0
    a = parse_args(argv)
    try:
        out = render(a)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write(message_of(e) + "\n")
        return 1
    sys.stdout.buffer.write(out.encode("utf-8", "surrogatepass"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
