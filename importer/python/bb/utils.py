"""BitBake's ``bb.utils``: the helpers metadata calls most.

Version comparison, dependency strings, variable tests (``contains``,
``filter``, ``to_boolean``), file operations, locks and hashes, and the
shared global context in which metadata Python runs.  The bigger groups live
in private modules and are re-exported here under their BitBake names.
"""

import collections
import contextlib
import fcntl
import fnmatch
import logging
import os
import re
import signal
import sys

import bb
import bb.filter
from bb import multiprocessing  # noqa: F401  (BitBake exposes it here too)
from bb._vercmp import (  # noqa: F401
    VersionStringException, explode_version, split_version, vercmp_part, vercmp,
    vercmp_string, vercmp_string_op, is_semver,
)
from bb._deps import explode_deps, explode_dep_versions2, explode_dep_versions, join_deps  # noqa: F401
from bb._fileops import (  # noqa: F401
    mkdirhier, remove, prunedir, prune_suffix, rename, copyfile, movefile, break_hardlinks,
    which, to_filemode, umask, lockfile, unlockfile, fileslocked, md5_file, sha1_file,
    sha256_file, sha384_file, sha512_file, goh1_file, mkstemp, path_is_descendant,
    is_path_on_nfs,
)
from bb._pyexec import (  # noqa: F401
    _context, clean_context, get_context, set_context, better_compile, better_exec,
    simple_exec, better_eval, exec_flat_python_func,
)
from bb._editmeta import edit_metadata, edit_metadata_file, edit_bblayers_conf  # noqa: F401

logger = logging.getLogger("BitBake.Util")


def to_boolean(string, default=None):
    """Interpret a variable value as a boolean.

    "y", "yes", "1", "true" (any case) give True; "n", "no", "0", "false"
    give False; an empty value, None, 0 or False give ``default``; an int
    gives ``value != 0``; anything else raises ValueError.
    """
    if not string:
        return default
    if isinstance(string, int):
        return string != 0
    normalized = string.lower()
    if normalized in ("y", "yes", "1", "true"):
        return True
    if normalized in ("n", "no", "0", "false"):
        return False
    raise ValueError("Invalid value for to_boolean: %s" % string)


def _word_set(values):
    return set(values.split()) if isinstance(values, str) else set(values)


def contains(variable, checkvalues, truevalue, falsevalue, d):
    """``truevalue`` if every word of ``checkvalues`` is in the variable, else ``falsevalue``."""
    value = d.getVar(variable)
    if not value:
        return falsevalue
    if _word_set(checkvalues).issubset(value.split()):
        return truevalue
    return falsevalue


def contains_any(variable, checkvalues, truevalue, falsevalue, d):
    """``truevalue`` if any word of ``checkvalues`` is in the variable, else ``falsevalue``."""
    value = d.getVar(variable)
    if not value:
        return falsevalue
    if _word_set(checkvalues) & set(value.split()):
        return truevalue
    return falsevalue


def filter_string(val, checkvalues):
    """The words of ``val`` that are in ``checkvalues``, sorted, space separated."""
    if not val:
        return ""
    return " ".join(sorted(_word_set(checkvalues) & set(val.split())))


def filter(variable, checkvalues, d):
    """The words of the variable that are in ``checkvalues`` (see :func:`filter_string`)."""
    return filter_string(d.getVar(variable), checkvalues)


def get_referenced_vars(start_expr, d):
    """Names of the variables ``start_expr`` references, recursively, breadth first."""
    import bb.data
    seen = set()
    found = []
    queue = collections.deque()
    empty = bb.data.init()
    first = True
    queue.append(start_expr)
    while queue:
        entry = queue.popleft()
        if first:
            expression = entry
            first = False
        else:
            expression = d.getVar(entry, False)
            found.append(entry)
        refs = set(empty.expandWithRefs(expression, None).references) - seen
        queue.extend(refs)
        seen.update(refs)
    return found


def cpu_count():
    """Number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def nonblockingfd(fd):
    """Put file descriptor ``fd`` in non-blocking mode."""
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def preserved_envvars_exported():
    """Variables taken from the environment and exported again."""
    return ["BB_TASKHASH", "HOME", "LOGNAME", "PATH", "PWD", "SHELL", "USER", "LC_ALL", "BBSERVER"]


def preserved_envvars():
    """Variables taken from the environment into the metadata."""
    return ["BBPATH", "BB_PRESERVE_ENV", "BB_ENV_PASSTHROUGH_ADDITIONS"] + preserved_envvars_exported()


def approved_variables():
    """Environment variables allowed to reach the metadata."""
    if "BB_PRESERVE_ENV" in os.environ:
        return list(os.environ.keys())
    if "BB_ENV_PASSTHROUGH" in os.environ:
        approved = os.environ["BB_ENV_PASSTHROUGH"].split() + ["BB_ENV_PASSTHROUGH"]
    else:
        approved = preserved_envvars()
    if "BB_ENV_PASSTHROUGH_ADDITIONS" in os.environ:
        approved.extend(os.environ["BB_ENV_PASSTHROUGH_ADDITIONS"].split())
        if "BB_ENV_PASSTHROUGH_ADDITIONS" not in approved:
            approved.append("BB_ENV_PASSTHROUGH_ADDITIONS")
    return approved


def build_environment(d):
    """Put every exported variable of ``d`` into ``os.environ``."""
    for var in d.keys():
        if d.getVarFlag(var, "export", False):
            os.environ[var] = d.getVar(var) or ""


@contextlib.contextmanager
def environment(**envvars):
    """Context manager setting environment variables, restoring them afterwards."""
    saved = {name: os.environ.get(name) for name in envvars}
    try:
        os.environ.update(envvars)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def is_local_uid(uid=""):
    """Whether ``uid`` (default: ours) is listed in /etc/passwd."""
    uid = str(uid or os.getuid())
    try:
        with open("/etc/passwd", "r") as f:
            for line in f:
                fields = line.split(":")
                if len(fields) >= 3 and fields[2] == uid:
                    return True
    except OSError:
        return False
    return False


def disable_network(uid=None, gid=None):
    """Move this process into new user and network namespaces (no network).

    Does nothing (beyond a debug message) when the kernel refuses.
    """
    import ctypes
    clone_newuser = 0x10000000
    clone_newnet = 0x40000000
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(clone_newnet | clone_newuser) != 0:
        logger.debug("System doesn't support disabling network without admin privs")
        return
    with open("/proc/self/uid_map", "w") as f:
        f.write("%s %s 1" % (uid, uid))
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/gid_map", "w") as f:
        f.write("%s %s 1" % (gid, gid))


def export_proxies(d):
    """Export the fetcher's proxy and credential variables into ``os.environ``."""
    from bb.fetch2 import get_fetcher_environment
    os.environ.update(get_fetcher_environment(d))


def get_collection_res(d):
    """``{collection: BBFILE_PATTERN}`` for every layer collection."""
    return {c: d.getVar("BBFILE_PATTERN_%s" % c) or ""
            for c in (d.getVar("BBFILE_COLLECTIONS") or "").split()}


def get_file_layer(filename, d, collection_res={}):
    """The layer collection a file belongs to (the longest matching pattern wins)."""
    patterns = collection_res or get_collection_res(d)

    def layer_of(path):
        best, best_len = None, 0
        for collection, regex in patterns.items():
            if len(regex) > best_len and re.match(regex, path):
                best, best_len = collection, len(regex)
        return best

    for entry in (d.getVar("BBFILES_PRIORITIZED") or "").split():
        if fnmatch.fnmatchcase(filename, entry):
            return layer_of(entry)
    return layer_of(filename)


class PrCtlError(Exception):
    """prctl() failed."""


def signal_on_parent_exit(signame):
    """Ask the kernel to send ``signame`` to us when our parent exits."""
    import ctypes
    result = ctypes.CDLL(None).prctl(1, getattr(signal, signame))
    if result != 0:
        raise PrCtlError("prctl failed with error code %s" % result)


def set_process_name(name):
    """Set the process name shown by ps (best effort)."""
    import ctypes
    try:
        buf = ctypes.create_string_buffer(name.encode("utf-8"))
        ctypes.CDLL(None).prctl(15, ctypes.byref(buf), 0, 0, 0)
    except Exception:
        pass


def load_plugins(logger, plugins, pluginpath):
    """Import every Python module in ``pluginpath`` and append it to ``plugins``.

    A module with ``plugin_init(plugins)`` contributes what that returns.
    """
    import importlib.machinery
    import importlib.util
    import glob
    names = set()
    for suffix in importlib.machinery.all_suffixes():
        for path in glob.glob(os.path.join(pluginpath, "*" + suffix)):
            names.add(os.path.splitext(os.path.basename(path))[0])
    for name in sorted(names):
        if name == "__init__":
            continue
        spec = importlib.machinery.PathFinder.find_spec(name, path=[pluginpath])
        if not spec:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if hasattr(module, "plugin_init"):
            plugins.append(module.plugin_init(plugins) or module)
        else:
            plugins.append(module)


class LogCatcher(logging.Handler):
    """Logging handler that keeps the formatted messages it receives."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(bb.msg.BBLogFormatter("%(levelname)s: %(message)s").format(record))

    def contains(self, message):
        return message in self.messages


@contextlib.contextmanager
def lock_timeout(lock):
    """Hold ``lock`` for the body; give up (exit) after five minutes of waiting."""
    held = lock.acquire(timeout=5 * 60)
    if not held:
        bb.fatal("Couldn't get the lock for 5 mins, timed out")
    try:
        yield held
    finally:
        lock.release()


@contextlib.contextmanager
def lock_timeout_nocheck(lock):
    """Try to hold ``lock`` for ten seconds; the body gets whether it is held."""
    held = lock.acquire(timeout=10)
    try:
        yield held
    finally:
        if held:
            lock.release()


def multiprocessingpool(*args, **kwargs):
    """A ``multiprocessing.Pool`` of the "fork" context."""
    return bb.multiprocessing.Pool(*args, **kwargs)


def profile_function(profile, function, output_fn, process=True):
    """Run ``function``, under cProfile writing to ``output_fn`` when ``profile``."""
    if not profile:
        return function()
    import cProfile
    prof = cProfile.Profile()
    result = prof.runcall(function)
    prof.dump_stats(output_fn)
    return result


def check_system_locale():
    """Fail unless the file system encoding is UTF-8."""
    if sys.getfilesystemencoding() != "utf-8":
        bb.fatal("Please use a locale setting which supports UTF-8 (such as LANG=en_US.UTF-8).")
