"""Compiled-code cache and method insertion (BitBake's ``bb.methodpool``).

Metadata functions are compiled once per distinct source text and defined
in the shared global context.
"""

_compiled = {}


def insert_method(modulename, code, fn, lineno):
    """Define the functions in source ``code`` (from ``fn`` at ``lineno``) globally."""
    import bb.utils
    compiled = bb.utils.better_compile(code, modulename, fn, lineno=lineno)
    bb.utils.better_exec(compiled, None, code, fn)


def compile_cache(code):
    """The code object compiled earlier from the source ``code``, or None."""
    return _compiled.get(code)


def compile_cache_add(code, compileobj):
    """Remember ``compileobj`` as the compilation of ``code``."""
    _compiled[code] = compileobj
