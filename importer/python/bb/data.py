"""Functions around the datastore (BitBake's ``bb.data``).

Creating and copying datastores, expanding, renaming keys that contain
``${...}``, testing inherited classes, and writing variables and shell
functions out as a shell script (``emit_*``).
"""

import logging
import re
import sys

import bb
from bb import data_smart

logger = logging.getLogger("BitBake.Data")


def init():
    """A new, empty datastore."""
    return data_smart.DataSmart()


def init_db(parent=None):
    """A new datastore, a copy of ``parent`` when given."""
    if parent is not None:
        return parent.createCopy()
    return data_smart.DataSmart()


def createCopy(source):
    """A copy-on-write copy of ``source``: changes to it do not reach ``source``."""
    return source.createCopy()


def initVar(var, d):
    """Create ``var`` in ``d`` without changing an existing value."""
    d.initVar(var)


def keys(d):
    """The variable names of ``d``."""
    return d.keys()


def expand(s, d, varname=None):
    """Expand ``${...}`` references and inline Python in ``s``."""
    return d.expand(s, varname)


def expandKeys(alterdata, readdata=None):
    """Rename every variable whose name contains ``${...}`` to its expanded name.

    ``readdata`` (default: ``alterdata``) supplies the values used to expand
    the names.
    """
    if readdata is None or readdata is alterdata:
        if hasattr(alterdata, "expandKeys"):
            alterdata.expandKeys()
            return
        readdata = alterdata
    renames = {}
    for key in list(alterdata.keys()):
        if "${" not in key:
            continue
        expanded = readdata.expand(key)
        if expanded != key:
            renames[key] = expanded
    for key in sorted(renames):
        expanded = renames[key]
        existing = alterdata.getVar(expanded, False)
        if existing is not None:
            value = alterdata.getVar(key, False)
            if value is not None:
                bb.warn("Variable key %s (%s) replaces original key %s (%s)." % (key, value, expanded, existing))
        alterdata.renameVar(key, expanded)


def inheritFromOS(d, savedenv, permitted):
    """Copy the ``permitted`` variables of the saved environment into ``d``."""
    exported = bb.utils.preserved_envvars_exported()
    for name in savedenv.keys():
        if name not in permitted:
            continue
        try:
            d.setVar(name, savedenv.getVar(name), op="from env")
            if name in exported:
                d.setVarFlag(name, "export", True, op="auto env export")
        except TypeError:
            pass


def _shell_quote(value):
    """Escape a value for a double-quoted shell assignment."""
    value = value.replace('"', '\\"').replace("`", "\\`")
    value = value.replace("\n", " \\\n")
    return value.replace("$", "\\$")


def emit_var(var, o=sys.__stdout__, d=None, all=False):
    """Write ``var`` to ``o`` as shell; returns True for functions written.

    Only exported, unexported (written as ``unset``) and shell-function
    variables are written unless ``all`` is set.
    """
    d = d if d is not None else init()
    func = d.getVarFlag(var, "func", False)
    if d.getVarFlag(var, "python", False) and func:
        return False
    export = bb.utils.to_boolean(d.getVarFlag(var, "export"))
    unexport = bb.utils.to_boolean(d.getVarFlag(var, "unexport"))
    if not all and not export and not unexport and not func:
        return False
    try:
        if all:
            oval = d.getVar(var, False)
        val = d.getVar(var)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        o.write("# expansion of %s threw %s: %s\n" % (var, type(exc).__name__, exc))
        return False
    if all and hasattr(d.varhistory, "emit"):
        d.varhistory.emit(var, oval, val, o, d)
    if not all and any(c in var for c in "-.{}+"):
        return False
    name = d.expand(var)
    if unexport:
        o.write("unset %s\n" % name)
        return False
    if val is None:
        return False
    val = str(val)
    if name.startswith("BASH_FUNC_"):
        name = name[10:-2]
        o.write("%s() %s\n" % (name, val[3:]))
        o.write("export -f %s\n" % name)
        return True
    if func:
        o.write("# line: %s, file: %s\n" % (d.getVarFlag(var, "lineno", False),
                                           d.getVarFlag(var, "filename", False)))
        o.write("%s() {\n%s\n}\n" % (name, val.rstrip("\n")))
        return 1
    if export:
        o.write("export ")
    o.write('%s="%s"\n' % (name, _shell_quote(val)))
    return False


def emit_env(o=sys.__stdout__, d=None, all=False):
    """Write every variable of ``d`` (values first, then functions) as shell."""
    d = d if d is not None else init()
    names = [k for k in d.keys() if not k.startswith("__")]
    values = sorted(k for k in names if not d.getVarFlag(k, "func", False))
    funcs = sorted(k for k in names if d.getVarFlag(k, "func", False))
    for key in values:
        emit_var(key, o, d, all) and o.write("\n")
    for key in funcs:
        emit_var(key, o, d, False) and o.write("\n")


def exported_keys(d):
    """Names of the variables that are exported and not unexported."""
    return (key for key in d.keys()
            if not key.startswith("__")
            and bb.utils.to_boolean(d.getVarFlag(key, "export"))
            and not bb.utils.to_boolean(d.getVarFlag(key, "unexport")))


def exported_vars(d):
    """``(name, value)`` for every exported variable that has a value."""
    for key in list(exported_keys(d)):
        try:
            value = d.getVar(key)
        except Exception as err:
            bb.warn("%s: Unable to export ${%s}: %s" % (d.getVar("FILE"), key, err))
            continue
        if value is not None:
            yield key, str(value)


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.+-]*")


def _shell_calls(d, func):
    """Shell functions of ``d`` that the body of ``func`` may call.

    Every word of the body that names a shell function counts (a superset of
    the commands the shell would run), plus the function's ``vardeps``.
    """
    body = d.getVar(func) or ""
    calls = set()
    for word in set(_WORD.findall(body)):
        if word != func and d.getVarFlag(word, "func", False) and not d.getVarFlag(word, "python", False):
            calls.add(word)
    calls |= set((d.getVarFlag(func, "vardeps") or "").split())
    return calls


def emit_func(func, o=sys.__stdout__, d=None):
    """Write the shell function ``func``, the variables it needs and the functions it calls."""
    d = d if d is not None else init()
    for key in sorted(k for k in d.keys() if not k.startswith("__") and not d.getVarFlag(k, "func", False)):
        emit_var(key, o, d, False)
    o.write("\n")
    emit_var(func, o, d, False) and o.write("\n")
    pending = _shell_calls(d, func)
    seen = {func}
    while pending:
        current = pending - seen
        seen |= current
        pending = set()
        for dep in sorted(current):
            if d.getVarFlag(dep, "func", False) and not d.getVarFlag(dep, "python", False):
                emit_var(dep, o, d, False) and o.write("\n")
                pending |= _shell_calls(d, dep)


def emit_func_python(func, o=sys.__stdout__, d=None):
    """Write the Python function ``func`` and the Python functions it calls, then a call."""
    d = d if d is not None else init()

    def write(name, call=False):
        body = d.getVar(name, False)
        if not body.startswith("def"):
            body = "\ndef %s(d):\n%s" % (name, body)
        o.write(body.strip() + "\n\n")
        if call:
            o.write(name + "(d)\n\n")

    write(func, True)
    seen = {func}
    pending = bb.codeparser.python_calls(d.getVar(func, False) or "")
    pending |= set((d.getVarFlag(func, "vardeps") or "").split())
    while pending:
        current = pending - seen
        seen |= current
        pending = set()
        for dep in sorted(current):
            if d.getVarFlag(dep, "func", False) and d.getVarFlag(dep, "python", False):
                write(dep)
                pending |= bb.codeparser.python_calls(d.getVar(dep, False) or "")
                pending |= set((d.getVarFlag(dep, "vardeps") or "").split())


def inherits_class(klass, d):
    """Whether the recipe inherited ``klass``.

    True when some entry of ``__inherit_cache`` ends with ``/<klass>.bbclass``
    (``classes/``, ``classes-global/``, ``classes-recipe/`` in any layer).
    """
    needle = "/%s.bbclass" % klass
    return any(path.endswith(needle) for path in (d.getVar("__inherit_cache", False) or []))
