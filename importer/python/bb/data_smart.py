"""The datastore's Python face (BitBake's ``bb.data_smart``).

The datastore itself is rstore's native ``_rstore.DataSmart``; this module
re-exports it and provides what the importer and metadata use around it:
:class:`ExpansionError` (raised when ``${@...}`` or a reference fails while
expanding, with the chain of variables that led there) and
:class:`DataContext` (the locals of inline Python: unknown names resolve to
variables of the datastore).
"""

import builtins
import logging
import re

import _rstore
import bb

logger = logging.getLogger("BitBake.Data")

DataSmart = _rstore.DataSmart

__setvar_keyword__ = [":append", ":prepend", ":remove"]
__setvar_regexp__ = re.compile(r"(?P<base>.*?)(?P<keyword>:append|:prepend|:remove)(:(?P<add>[^A-Z]*))?$")
__expand_var_regexp__ = re.compile(r"\${[a-zA-Z0-9\-_+./~:]+}")
__expand_python_regexp__ = re.compile(r"\${@(?:{.*?}|.)+?}")
__whitespace_split__ = re.compile(r"(\s)")
__override_regexp__ = re.compile(r"[a-z0-9]+")

# Variables BitBake renamed; using the old name is an error that names the new one.
bitbake_renamed_vars = {
    "BB_ENV_WHITELIST": "BB_ENV_PASSTHROUGH",
    "BB_ENV_EXTRAWHITE": "BB_ENV_PASSTHROUGH_ADDITIONS",
    "BB_HASHBASE_WHITELIST": "BB_BASEHASH_IGNORE_VARS",
    "BB_HASHCONFIG_WHITELIST": "BB_HASHCONFIG_IGNORE_VARS",
    "BB_HASHTASK_WHITELIST": "BB_TASKHASH_IGNORE_TASKS",
    "BB_SETSCENE_ENFORCE_WHITELIST": "BB_SETSCENE_ENFORCE_IGNORE_TASKS",
    "MULTI_PROVIDER_WHITELIST": "BB_MULTI_PROVIDER_ALLOWED",
    "BB_STAMP_WHITELIST": "is a deprecated variable and support has been removed",
    "BB_STAMP_POLICY": "is a deprecated variable and support has been removed",
}


class ExpansionError(Exception):
    """Expanding a variable or expression failed.

    ``varlist`` is the chain of variables being expanded, innermost first;
    callers further out add theirs with :meth:`addVar`.
    """

    def __init__(self, varname, expression, exception):
        self.expression = expression
        self.variablename = varname
        self.exception = exception
        self.varlist = [varname or expression or ""]
        cause = "%s: %s" % (type(exception).__name__, exception)
        if varname and expression:
            self.msg = "Failure expanding variable %s, expression was %s which triggered exception %s" % (
                varname, expression, cause)
        elif varname:
            self.msg = "Failure expanding variable %s: %s" % (varname, cause)
        else:
            self.msg = "Failure expanding expression %s which triggered exception %s" % (expression, cause)
        Exception.__init__(self, self.msg)
        self.args = (varname, expression, exception)

    def addVar(self, varname):
        """Record that the failing expansion happened inside ``varname``."""
        if varname:
            self.varlist.append(varname)

    def __str__(self):
        return "%s\nThe variable dependency chain for the failure is: %s" % (
            self.msg, " -> ".join(self.varlist))


class DataContext(dict):
    """Locals for inline Python: a missing name is looked up as a variable.

    Python builtins, ``oe`` and the names of the global context are never
    looked up in the datastore (they must keep their Python meaning); a
    variable that is unset raises KeyError, i.e. NameError in the code.
    ``d`` is always the datastore.
    """

    excluded = frozenset([name for name in dir(builtins) if not name.startswith("_")] + ["oe"])

    def __init__(self, metadata, **kwargs):
        dict.__init__(self, **kwargs)
        self.metadata = metadata
        self["d"] = metadata
        # The live global context (looked up by name, not copied per evaluation).
        self.context = bb.utils.get_context()

    def __missing__(self, key):
        if key in self.excluded or key in self.context:
            raise KeyError(key)
        value = self.metadata.getVar(key)
        if value is None:
            raise KeyError(key)
        return value
