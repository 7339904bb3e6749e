"""Running metadata Python: the global context, compile, exec and eval.

BitBake runs every piece of metadata Python with one shared dict as its
globals (``bb.utils.get_context()``), which starts with ``os``, ``bb`` and
``time`` and grows with the modules named in ``BB_GLOBAL_PYMODULES``, the
layer libraries and every ``def`` function of the metadata.  Errors are
reported once, with the failing lines of the metadata, and then re-raised as
``bb.BBHandledException`` so callers do not print them again.
"""

import copy
import logging
import os
import subprocess
import time
import traceback

import bb

logger = logging.getLogger("BitBake.Util")


def clean_context():
    """A fresh global context: ``os``, ``bb`` and ``time``."""
    return {"os": os, "bb": bb, "time": time}


_context = clean_context()


def get_context():
    """The dict metadata Python runs in (its globals): ``bb.utils._context``."""
    return _current_context()


def set_context(ctx):
    """Make the global context hold exactly the entries of ``ctx``.

    The dict object itself stays the same, so every holder of
    ``bb.utils.get_context()`` sees the change.
    """
    current = _current_context()
    if ctx is current:
        return
    entries = dict(ctx)
    current.clear()
    current.update(entries)


_utils = None


def _current_context():
    # bb.utils._context is the documented name; it may have been rebound.
    global _utils
    if _utils is None:
        import bb.utils
        _utils = bb.utils
    return _utils._context


def _excerpt(lines, lineno, radius=4):
    """Lines around ``lineno`` (1-based) of ``lines``, the failing one marked."""
    out = []
    first = max(1, lineno - radius)
    last = min(len(lines), lineno + radius)
    for n in range(first, last + 1):
        marker = " *** " if n == lineno else "     "
        out.append("%s%04d:%s" % (marker, n, lines[n - 1].rstrip()))
    return out


def better_compile(text, file, realfile, mode="exec", lineno=0):
    """Compile ``text`` as if it started at line ``lineno + 1`` of ``realfile``.

    Compiled code is cached by text, file, line and mode.  A syntax error is
    logged with the offending lines and raised as BBHandledException.
    """
    import bb.methodpool
    key = (text, realfile, int(lineno), mode)
    cached = bb.methodpool.compile_cache(key)
    if cached:
        return cached
    try:
        code = compile("\n" * int(lineno) + text, realfile, mode)
    except Exception as exc:
        report = ["Error in compiling python function in %s, line %s:\n" % (realfile, getattr(exc, "lineno", "?"))]
        if getattr(exc, "lineno", None):
            report.append("The code lines resulting in this error were:")
            report.extend(_excerpt(text.split("\n"), exc.lineno - int(lineno)))
        else:
            report.append("The function causing this error was:")
            report.extend(text.split("\n"))
        report.append("%s: %s" % (type(exc).__name__, exc))
        logger.error("\n".join(report))
        raise bb.BBHandledException(exc) from exc
    bb.methodpool.compile_cache_add(key, code)
    return code


def _source_lines(filename, text, compiled_name):
    """Source lines for a traceback frame: the compiled text or the file."""
    if filename == compiled_name and text is not None:
        return text.split("\n")
    if filename and filename.startswith("/"):
        try:
            with open(filename, "r", encoding="utf-8", errors="replace") as f:
                return f.read().split("\n")
        except OSError:
            return None
    return None


def _describe_exception(exc, realfile, text):
    """The error report for an exception raised by metadata code."""
    report = ["Error executing a python function in %s:\n" % realfile]
    frames = traceback.extract_tb(exc.__traceback__)
    # The first frame is the better_exec call itself.
    if len(frames) > 1:
        frames = frames[1:]
    report.append("The stack trace of python calls that resulted in this exception/failure was:")
    for frame in frames:
        report.append("File: '%s', lineno: %s, function: %s" % (frame.filename, frame.lineno, frame.name))
        lines = _source_lines(frame.filename, text, realfile)
        if lines and frame.lineno and frame.lineno <= len(lines):
            report.extend(_excerpt(lines, frame.lineno))
    report.append("Exception: %s" % "".join(traceback.format_exception_only(type(exc), exc)).rstrip())
    if isinstance(exc, subprocess.CalledProcessError) and exc.output:
        output = exc.output
        if isinstance(output, bytes):
            output = output.decode("utf-8", errors="ignore")
        report.append("Subprocess output:")
        report.append(output)
    return "\n".join(report)


def _passthrough():
    """Exceptions that already carry their report and are re-raised as they are."""
    import bb.data_smart
    import bb.parse
    import bb.process
    return (bb.BBHandledException, bb.parse.SkipRecipe, bb.data_smart.ExpansionError,
            bb.process.ExecutionError)


def better_exec(code, context, text=None, realfile="<code>", pythonexception=False):
    """Execute ``code`` (source or code object) with ``context`` as locals.

    Other exceptions than the "already reported" ones (BBHandledException,
    SkipRecipe, ExpansionError, ExecutionError) are logged with the failing
    metadata lines and raised as BBHandledException, unless
    ``pythonexception`` asks for the original exception.
    """
    if not text:
        text = code if isinstance(code, str) else None
    if not hasattr(code, "co_filename"):
        code = better_compile(code, realfile, realfile)
    try:
        exec(code, _current_context(), context)
    except _passthrough():
        raise
    except Exception as exc:
        if pythonexception:
            raise
        try:
            logger.error(_describe_exception(exc, realfile, text))
        except Exception as report_failure:
            logger.error("Exception handler error: %s" % report_failure)
        raise bb.BBHandledException(exc) from exc


def simple_exec(code, context):
    """``exec`` in the global context without error reporting."""
    exec(code, _current_context(), context)


def better_eval(source, locals, extraglobals=None):
    """Evaluate ``source`` in the global context (plus ``extraglobals``)."""
    ctx = _current_context()
    if extraglobals:
        ctx = copy.copy(ctx)
        ctx.update(extraglobals)
    return eval(source, ctx, locals)


def exec_flat_python_func(func, *args, **kwargs):
    """Call the global-context function named ``func`` and return its result."""
    target = _current_context().get(func)
    if target is None:
        target = better_eval(func, {})
    return target(*args, **kwargs)
