"""Dependency analysis of Python code (BitBake's ``bb.codeparser``, Python part).

:class:`PythonParser` reads Python source and records what a task
signature must depend on: variables read with a literal name
(``d.getVar("X")`` gives ``X``, ``d.getVarFlag("X", "f")`` gives ``X[f]``),
values tested with ``bb.utils.contains*``/``bb.utils.filter``, functions
called (``execs``) and functions run by name through ``bb.build.exec_func``.

:func:`add_module_functions` runs it over the functions of a layer library
(``oe.utils`` and friends) so calls into them can be followed; the results
are kept in :data:`modulecode_deps` keyed by ``module.function``.

Shell code analysis is done by the importer, not here.
"""

import ast
import hashlib
import inspect
import logging
import re

logger = logging.getLogger("BitBake.CodeParser")

# name -> [references, execs, var_execs, contains, extra, visitorcode]
modulecode_deps = {}

_VAR_REF = re.compile(r"\$\{([a-zA-Z0-9\-_+./~:]+)\}")


def _dotted_name(node):
    """``a.b.c`` for a chain of attribute accesses on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


class PythonParser:
    """Collects ``references``, ``execs``, ``var_execs`` and ``contains`` of Python code."""

    getvars = (".getVar", ".appendVar", ".prependVar", "oe.utils.conditional")
    getvarflags = (".getVarFlag", ".appendVarFlag", ".prependVarFlag")
    containsfuncs = ("bb.utils.contains", "base_contains")
    containsanyfuncs = ("bb.utils.contains_any", "bb.utils.filter")
    execfuncs = ("bb.build.exec_func", "bb.build.exec_task")

    def __init__(self, name, log=None):
        self.name = name
        self.log = log or logger
        self.references = set()
        self.execs = set()
        self.var_execs = set()
        self.contains = {}
        self.extra = None
        self.unhandled = []

    def _note_unhandled(self, func, arg):
        try:
            self.unhandled.append((ast.unparse(func), ast.unparse(arg)))
        except Exception:
            pass

    def _add_contains(self, var, items):
        self.contains.setdefault(var, set()).update(items)

    def visit_call(self, node):
        """Record what one call expression contributes."""
        name = _dotted_name(node.func)
        if not name:
            return
        args = node.args
        entry = modulecode_deps.get(name)
        if entry is not None:
            visitor = entry[5]
        elif _analysing:
            # While the libraries are analysed, only functions analysed before this
            # one are known, as when BitBake analyses each module as it is imported.
            visitor = None
        else:
            visitor = _visitors.get(name)
        if visitor:
            contains, execs, warn = visitor(name, args)
            self.contains.update(contains)
            self.execs |= execs
            if warn is not None:
                self._note_unhandled(node.func, warn)
            return
        is_getvar = name.endswith(self.getvars)
        is_getflag = name.endswith(self.getvarflags)
        if is_getvar or is_getflag or name in self.containsfuncs or name in self.containsanyfuncs:
            var = _literal(args[0]) if args else None
            if var is None:
                if args:
                    self._note_unhandled(node.func, args[0])
                return
            second = args[1] if len(args) > 1 else None
            if name in self.containsfuncs and isinstance(second, ast.Constant):
                self._add_contains(var, [second.value])
            elif name in self.containsanyfuncs and isinstance(second, ast.Constant):
                self._add_contains(var, str(second.value).split())
            elif is_getflag:
                if isinstance(second, ast.Constant):
                    self.references.add("%s[%s]" % (var, second.value))
                elif second is not None:
                    self._note_unhandled(node.func, second)
            else:
                self.references.add(var)
        elif name.endswith(".expand"):
            text = _literal(args[0]) if args else None
            if text is not None:
                self.references |= set(_VAR_REF.findall(text))
        elif name in self.execfuncs:
            target = _literal(args[0]) if args else None
            if target is not None:
                self.var_execs.add(target)
            elif args:
                self._note_unhandled(node.func, args[0])
        else:
            self.execs.add(name)

    def parse_python(self, node, lineno=0, filename="<string>", fixedhash=None, func=None):
        """Analyse the source ``node`` (a string); ``func`` adds its decorators' vardeps."""
        if node is None and func is not None:
            node, lineno = inspect.getsourcelines(func)
            node = "".join(node)
            lineno = max(lineno - 1, 0)
        if not node or not node.strip():
            return
        padded = "\n" * int(lineno) + str(node)
        source = "\n" * int(lineno) + _wrap_indented(str(node))
        tree = compile(source, filename, "exec", ast.PyCF_ONLY_AST)
        for item in ast.walk(tree):
            if isinstance(item, ast.Call):
                self.visit_call(item)
        if func is not None:
            self.references |= getattr(func, "bb_vardeps", set())
            self.references -= getattr(func, "bb_vardepsexclude", set())
        self.execs |= self.var_execs
        if fixedhash:
            self.extra = hashlib.sha256(padded.encode("utf-8")).hexdigest()


def _wrap_indented(code):
    """Indented code (a function body) is made valid by nesting it under ``if 1:``,
    which keeps every line where it was, whatever mix of indentation it uses."""
    stripped = code.lstrip("\n\t ")
    if stripped == code:
        return code
    leading = code[: len(code) - len(stripped)]
    if leading.endswith(("\t", " ")):
        if code.startswith("\n"):
            code = code[1:]
        return "if 1:\n" + code
    return code


def python_calls(source):
    """Names a piece of metadata Python calls (functions and ``exec_func`` targets)."""
    parser = PythonParser("<calls>")
    try:
        parser.parse_python(source)
    except SyntaxError:
        return set()
    return set(parser.execs)


def add_module_functions(fn, functions, namespace):
    """Analyse the functions of the module file ``fn`` imported as ``namespace``.

    ``functions`` maps names to function objects; functions defined in other
    files are skipped.  Calls between functions of the same module are
    recorded with their ``namespace.`` prefix.

    The analysis is deferred until something reads the results (a signature,
    :func:`module_dependencies`): a plain parse never needs it, and reading the
    source of every library function is about half of the configuration parse.
    Modules are analysed in the order they were added, as if done at once.
    """
    _pending.append((fn, dict(functions), namespace))
    for fname, function in functions.items():
        visitor = getattr(function, "visitorcode", None)
        if visitor is not None and _defined_in(function, fn):
            _visitors["%s.%s" % (namespace, fname)] = visitor


def _defined_in(function, fn):
    try:
        return inspect.getsourcefile(function) == fn
    except TypeError:
        return False


# Modules added but not analysed yet, in order, and the [vardepsexclude] names
# update_module_dependencies found for their functions.
_pending = []
_excludes = {}
# The ``visitorcode`` of library functions, known before their analysis.
_visitors = {}
_analysing = False


def _analyse_pending():
    global _analysing
    if _analysing:
        return
    _analysing = True
    try:
        while _pending:
            _analyse_module(*_pending.pop(0))
    finally:
        _analysing = False


def _analyse_module(fn, functions, namespace):
    for fname, function in functions.items():
        try:
            source_file = inspect.getsourcefile(function)
            lines, lineno = inspect.getsourcelines(function)
        except (TypeError, OSError):
            continue
        if source_file != fn:
            continue
        name = "%s.%s" % (namespace, fname)
        parser = PythonParser(name)
        parser.parse_python("".join(lines), filename=fn, lineno=lineno,
                            fixedhash=name, func=function)
        execs = set()
        for called in parser.execs:
            execs.add("%s.%s" % (namespace, called) if called in functions else called)
        excludes = _excludes.get(name, set())
        modulecode_deps[name] = [parser.references - excludes, execs - excludes, parser.var_execs - excludes,
                                 {k: set(v) for k, v in parser.contains.items()}, parser.extra,
                                 getattr(function, "visitorcode", None)]


def module_dependencies():
    """``modulecode_deps`` with every added module analysed."""
    _analyse_pending()
    return modulecode_deps


def update_module_dependencies(d):
    """Apply each module function's ``[vardepsexclude]`` flag from ``d``."""
    for name, entry in modulecode_deps.items():
        excludes = set((d.getVarFlag(name, "vardepsexclude") or "").split())
        if excludes:
            modulecode_deps[name] = [entry[0] - excludes, entry[1] - excludes, entry[2] - excludes,
                                     entry[3], entry[4], entry[5]]
    # Functions still waiting for analysis get theirs when they are analysed.
    for _, functions, namespace in _pending:
        for fname in functions:
            name = "%s.%s" % (namespace, fname)
            excludes = set((d.getVarFlag(name, "vardepsexclude") or "").split())
            if excludes:
                _excludes.setdefault(name, set()).update(excludes)
