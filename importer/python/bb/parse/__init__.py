"""Parsing helpers and exceptions (BitBake's ``bb.parse``).

The parser itself is rstore's importer.  This module keeps what metadata
and the importer share with it: the exceptions that stop or skip a recipe,
``vars_from_file`` (PN, PV and PR from a recipe's file name), dependency
tracking of files the parse read, the ``vardeps``/``vardepsexclude``
decorators for library functions, and ``siggen``, the signature generator.
"""

import errno
import logging
import os

import _rstore
import bb
import bb.siggen
import bb.utils

logger = logging.getLogger("BitBake.Parsing")

handlers = []


class ParseError(Exception):
    """Parsing ``filename`` failed (at ``lineno`` when known)."""

    def __init__(self, msg, filename, lineno=0):
        self.msg = msg
        self.filename = filename
        self.lineno = lineno
        Exception.__init__(self, msg, filename, lineno)

    def __str__(self):
        if self.lineno:
            return "ParseError at %s:%d: %s" % (self.filename, self.lineno, self.msg)
        return "ParseError in %s: %s" % (self.filename, self.msg)


class SkipRecipe(Exception):
    """Raised by metadata to skip the recipe; the message is the reason."""


class SkipPackage(SkipRecipe):
    """Old name of :class:`SkipRecipe`."""


_mtimes = {}


def _stat_key(path):
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def cached_mtime(f):
    """``(mtime_ns, size, inode)`` of ``f``, cached; raises if it does not exist."""
    if f not in _mtimes:
        _mtimes[f] = _stat_key(f)
    return _mtimes[f]


def cached_mtime_noerror(f):
    """Like :func:`cached_mtime`, but 0 for a file that does not exist."""
    if f not in _mtimes:
        try:
            _mtimes[f] = _stat_key(f)
        except OSError:
            return 0
    return _mtimes[f]


def check_mtime(f, mtime):
    """Whether ``f`` still has the stat key ``mtime`` (refreshing the cache)."""
    try:
        current = _stat_key(f)
        _mtimes[f] = current
    except OSError:
        current = 0
    return current == mtime


def update_mtime(f):
    """Refresh and return the cached stat key of ``f`` (0 if it is gone)."""
    try:
        _mtimes[f] = _stat_key(f)
    except OSError:
        _mtimes.pop(f, None)
        return 0
    return _mtimes[f]


def update_cache(f):
    """Refresh ``f`` in the cache if it is there."""
    if f in _mtimes:
        update_mtime(f)


def clear_cache():
    """Forget every cached stat key."""
    _mtimes.clear()


def mark_dependency(d, f):
    """Record that the parse of ``d`` depends on the file ``f``.

    A path starting with ``./`` is taken relative to the current directory.
    """
    if f.startswith("./"):
        f = os.path.join(os.getcwd(), f[2:])
    _rstore.mark_dependency(d, f)


def check_dependency(d, f):
    """Whether ``f`` (with its current stat key) is among ``d``'s dependencies."""
    entry = (f, cached_mtime_noerror(f))
    return entry in (d.getVar("__depends", False) or [])


def get_file_depends(d):
    """The files the parse depended on, as absolute paths joined by spaces."""
    depends = (d.getVar("__base_depends", False) or []) + (d.getVar("__depends", False) or [])
    return " ".join(os.path.abspath(fn) for fn, _ in depends)


_SUPPORTED = (".bb", ".bbclass", ".inc", ".bbappend", ".conf")


def supports(fn, data):
    """Whether ``fn`` is a kind of file BitBake parses."""
    return os.path.splitext(fn)[1] in _SUPPORTED


def handle(fn, data, include=0, baseconfig=False):
    """Parsing a file from Python is done by the importer, not here."""
    raise ParseError("parsing a file from Python (bb.parse.handle) is not available inside rstore; "
                     "use include/require/inherit in the metadata instead", fn)


def init_parser(d):
    """Create the signature generator named by ``BB_SIGNATURE_HANDLER``."""
    global siggen
    if siggen is not None:
        siggen.exit()
    siggen = bb.siggen.init(d)


def resolve_file(fn, d):
    """The absolute path of ``fn``, searched in ``BBPATH`` when relative.

    Every path tried is recorded as a dependency; a missing file raises
    IOError(ENOENT).
    """
    if not os.path.isabs(fn):
        bbpath = d.getVar("BBPATH")
        found, attempts = bb.utils.which(bbpath, fn, history=True)
        for attempt in attempts:
            mark_dependency(d, attempt)
        if not found:
            raise IOError(errno.ENOENT, "file %s not found in %s" % (fn, bbpath))
        fn = found
    else:
        mark_dependency(d, fn)
    if not os.path.isfile(fn):
        raise IOError(errno.ENOENT, "file %s not found" % fn)
    return fn


_split_names = {}


def vars_from_file(mypkg, d):
    """``[PN, PV, PR]`` from a recipe file name ``PN_PV_PR.bb`` (missing parts None).

    Files that are not ``.bb``/``.bbappend`` give ``(None, None, None)``; more
    than two underscores in the name raise ParseError.
    """
    if not mypkg or not mypkg.endswith((".bb", ".bbappend")):
        return (None, None, None)
    parts = _split_names.get(mypkg)
    if parts is None:
        parts = os.path.splitext(os.path.basename(mypkg))[0].split("_")
        if len(parts) > 3:
            raise ParseError("Unable to generate default variables from filename (too many underscores)", mypkg)
        parts = parts + [None] * (3 - len(parts))
        _split_names[mypkg] = parts
    return list(parts)


def vardeps(*varnames):
    """Decorator: the function's signature depends on these variables too."""
    def mark(f):
        if not hasattr(f, "bb_vardeps"):
            f.bb_vardeps = set()
        f.bb_vardeps |= set(varnames)
        return f
    return mark


def vardepsexclude(*varnames):
    """Decorator: ignore these variables in the function's signature."""
    def mark(f):
        if not hasattr(f, "bb_vardepsexclude"):
            f.bb_vardepsexclude = set()
        f.bb_vardepsexclude |= set(varnames)
        return f
    return mark


# The signature generator: a no-op one until init_parser() picks the
# configured one.
siggen = bb.siggen.SignatureGenerator(None)

from bb.parse import BBHandler  # noqa: E402,F401
from bb.parse import ConfHandler  # noqa: E402,F401
