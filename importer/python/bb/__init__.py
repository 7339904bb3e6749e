"""rstore's implementation of BitBake's ``bb`` package.

Metadata Python (inline ``${@...}`` expressions, anonymous and named Python
functions, event handlers and layer libraries such as ``meta/lib/oe``) expects
to find BitBake's ``bb`` package.  This package reproduces the documented
behaviour of the parts that metadata calls while it is parsed.  The datastore,
``inherit`` and task registration live in rstore's importer and are reached
through the native ``_rstore`` module.

Importing ``bb`` makes the usual submodules available as attributes
(``bb.utils``, ``bb.data``, ``bb.parse``, ``bb.build``, ``bb.event``,
``bb.fetch2`` also known as ``bb.fetch``, ...), as BitBake does.
"""

__version__ = "2.19.0"

import logging
import multiprocessing as _mp
import sys
from collections import namedtuple


class BBHandledException(Exception):
    """An error that has already been reported to the user.

    Raised by :func:`fatal` after the message was logged; whoever catches it
    must not print a traceback, the message said everything.
    """


class _ForkContext:
    """Stand-in for the ``multiprocessing`` module that prefers "fork".

    BitBake code writes ``from bb import multiprocessing`` to get the "fork"
    start method whatever the interpreter's default is.  Attribute look-ups go
    to the fork context first and to the module otherwise.
    """

    def __init__(self):
        object.__setattr__(self, "_ctx", _mp.get_context("fork"))

    def __getattr__(self, name):
        ctx = object.__getattribute__(self, "_ctx")
        if hasattr(ctx, name):
            return getattr(ctx, name)
        return getattr(_mp, name)

    def __setattr__(self, name, value):
        raise AttributeError("bb.multiprocessing is read-only (tried to set %s)" % name)


multiprocessing = _ForkContext()

# Logging set-up (logger class with BitBake's extra levels, and the handler
# that forwards records to rstore) must exist before any other module asks
# for a logger.
from bb import msg  # noqa: E402

logger = logging.getLogger("BitBake")
mainlogger = logging.getLogger("BitBake.Main")


class PrefixLoggerAdapter(logging.LoggerAdapter):
    """A logger adapter that puts a fixed prefix in front of every message."""

    def __init__(self, prefix, logger):
        super().__init__(logger, {})
        self._prefix = prefix

    def process(self, msg, kwargs):
        return "%s%s" % (self._prefix, msg), kwargs


def _join(args):
    return "".join(str(a) for a in args)


def plain(*args):
    """Print a message without a level prefix (above "note" in importance)."""
    mainlogger.plain(_join(args))


def debug(lvl, *args):
    """Print a debug message of debug level ``lvl`` (1 is the least verbose).

    A string passed as the level is treated as part of the message, with a
    warning, as BitBake does.
    """
    if isinstance(lvl, str):
        mainlogger.warning("Passed invalid debug level '%s' to bb.debug", lvl)
        args = (lvl,) + args
        lvl = 1
    mainlogger.bbdebug(lvl, _join(args))


def note(*args):
    """Print a note."""
    mainlogger.info(_join(args))


def verbnote(*args):
    """Print a note the user should see even without verbose output."""
    mainlogger.verbnote(_join(args))


def warn(*args):
    """Print a warning."""
    mainlogger.warning(_join(args))


def warnonce(*args):
    """Print a warning, only the first time this exact message is seen."""
    mainlogger.warnonce(_join(args))


def error(*args, **kwargs):
    """Print an error.  Keyword arguments are attached to the log record."""
    mainlogger.error(_join(args), extra=kwargs)


def erroronce(*args):
    """Print an error, only the first time this exact message is seen."""
    mainlogger.erroronce(_join(args))


def fatal(*args, **kwargs):
    """Print an error at "fatal" level and stop by raising BBHandledException."""
    mainlogger.critical(_join(args), extra=kwargs)
    raise BBHandledException()


def deprecated(func, name=None, advice=""):
    """Decorator: calling ``func`` emits a DeprecationWarning."""
    import functools
    import warnings

    label = name or func.__name__
    suffix = ": %s" % advice if advice else ""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        warnings.warn("Call to deprecated function %s%s." % (label, suffix),
                      category=DeprecationWarning, stacklevel=2)
        return func(*args, **kwargs)

    return wrapper


def deprecate_import(current, modulename, fromlist, renames=None):
    """Import names of ``modulename`` into module ``current``, deprecated."""
    module = __import__(modulename, fromlist=fromlist)
    target = sys.modules[current]
    for i, objname in enumerate(fromlist):
        newname = renames[i] if renames else objname
        wrapped = deprecated(getattr(module, objname), "%s.%s" % (current, objname),
                             "Please use %s.%s instead" % (modulename, objname))
        setattr(target, newname, wrapped)


TaskData = namedtuple("TaskData", [
    "pn", "taskname", "fn", "deps", "provides", "taskhash", "unihash",
    "hashfn", "taskhash_deps",
])

# Submodules every piece of metadata may reach as ``bb.<name>``.
from bb import filter  # noqa: E402,F401
from bb import utils  # noqa: E402,F401
from bb import event  # noqa: E402,F401
from bb import data_smart  # noqa: E402,F401
from bb import data  # noqa: E402,F401
from bb import process  # noqa: E402,F401
from bb import methodpool  # noqa: E402,F401
from bb import codeparser  # noqa: E402,F401
from bb import compress  # noqa: E402,F401
from bb import runqueue  # noqa: E402,F401
from bb import siggen  # noqa: E402,F401
from bb import parse  # noqa: E402,F401
from bb import build  # noqa: E402,F401
from bb import progress  # noqa: E402,F401
from bb import providers  # noqa: E402,F401
from bb import command  # noqa: E402,F401
from bb import fetch2  # noqa: E402,F401
from bb import cookerdata  # noqa: E402,F401
from bb import persist_data  # noqa: E402,F401

fetch = fetch2
sys.modules["bb.fetch"] = fetch2
