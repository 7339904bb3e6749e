"""Start-up code of rstore's embedded Python: serves the embedded `bb` package through
an import hook and compiles metadata code so tracebacks point into metadata files."""

import ast
import builtins
import importlib.abc
import importlib.util
import linecache
import sys


class EmbeddedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds modules in a dict of name -> (is_package, source, filename)."""

    def __init__(self, sources):
        self.sources = sources

    def find_spec(self, fullname, path=None, target=None):
        entry = self.sources.get(fullname)
        if entry is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=entry[2], is_package=entry[0])

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        is_package, source, filename = self.sources[module.__name__]
        module.__file__ = filename
        if is_package:
            module.__path__ = []
        exec(compile(source, filename, "exec"), module.__dict__)


def install(sources):
    sys.meta_path.insert(0, EmbeddedFinder(sources))


_code_cache = {}


def compile_at(text, filename, lineno, mode="exec"):
    """Compile `text` as if it started on line `lineno + 1` of `filename`."""
    key = (text, filename, lineno, mode)
    code = _code_cache.get(key)
    if code is None:
        try:
            tree = ast.parse(text, filename, mode)
        except SyntaxError as exc:
            # Report the line of the metadata file, not of the compiled text.
            if lineno and exc.lineno is not None:
                exc.lineno += lineno
                if getattr(exc, "end_lineno", None) is not None:
                    exc.end_lineno += lineno
                exc.text = linecache.getline(filename, exc.lineno) or exc.text
            raise
        if lineno:
            ast.increment_lineno(tree, lineno)
        code = compile(tree, filename, mode)
        _code_cache[key] = code
    return code


def format_exception(exc):
    """One line naming the innermost metadata location, then the traceback."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = None
    for frame in frames:
        # Frames of inline ${@...} code ("Var <NAME>", "<expansion>") name no file.
        if not frame.filename.startswith(("<rstore>", "<frozen", "/usr/lib/python", "Var <", "<expansion>")):
            where = frame
    if isinstance(exc, SyntaxError) and exc.filename:
        head = "%s:%s: SyntaxError: %s" % (exc.filename, exc.lineno, exc.msg)
        if exc.text and exc.text.strip():
            head += "\n    " + exc.text.strip()
    elif where is not None:
        head = "%s:%s: %s: %s" % (where.filename, where.lineno, type(exc).__name__, exc)
        if where.line:
            head += "\n    " + where.line
    else:
        head = "%s: %s" % (type(exc).__name__, exc)
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return head, tb
