"""Tasks and function execution (BitBake's ``bb.build``).

``addtask``/``deltask`` go to the importer, which keeps ``__BBTASKS`` and the
``deps`` flags exactly as BitBake does.  ``exec_func`` runs Python functions
of the metadata the way BitBake does (directories from ``[dirs]`` and
``[cleandirs]``, locks from ``[lockfiles]``, the function compiled as
``def name(d):`` so tracebacks point into the metadata file).  Shell
functions only run inside a build sandbox, never while parsing.
"""

import builtins
import logging
import os
import sys
import time

import _rstore
import bb
import bb.msg
from bb import event

logger = logging.getLogger("BitBake.Build")

# BitBake makes ``bb`` and ``os`` available to every function, even in code
# that forgot to import them.
builtins.bb = bb
builtins.os = os

verboseShellLogging = False
verboseStdoutLogging = False

logformatter = bb.msg.BBLogFormatter("%(levelname)s: %(message)s")


class FuncFailed(Exception):
    """A metadata function could not be run or failed."""

    def __init__(self, name, msg=None, logfile=None):
        self.name = name
        self.msg = msg
        self.logfile = logfile
        super().__init__(name, msg)

    def __str__(self):
        if self.msg:
            return "Function %s failed: %s" % (self.name, self.msg)
        return "Function %s failed" % self.name


class TaskBase(event.Event):
    """Base class of task events."""

    def __init__(self, t, fn, logfile, d):
        self._task = t
        self._fn = fn
        self._package = d.getVar("PF")
        self._mc = d.getVar("BB_CURRENT_MC")
        self.taskfile = d.getVar("FILE")
        self.taskname = self._task
        self.logfile = logfile
        self.time = time.time()
        self.pn = d.getVar("PN")
        self.pv = d.getVar("PV")
        event.Event.__init__(self)
        self._message = "recipe %s: task %s: %s" % (d.getVar("PF"), t, self.getDisplayName())

    def getTask(self):
        return self._task

    def setTask(self, task):
        self._task = task

    def getDisplayName(self):
        return event.getName(self)[4:]

    task = property(getTask, setTask, None, "task property")


class TaskStarted(TaskBase):
    """A task started."""

    def __init__(self, t, fn, logfile, taskflags, d):
        super().__init__(t, fn, logfile, d)
        self.taskflags = taskflags


class TaskSucceeded(TaskBase):
    """A task completed."""


class TaskFailed(TaskBase):
    """A task failed."""

    def __init__(self, task, fn, logfile, metadata, errprinted=False):
        self.errprinted = errprinted
        super().__init__(task, fn, logfile, metadata)


class TaskFailedSilent(TaskBase):
    """A task failed without the need to tell the user why."""

    def getDisplayName(self):
        return "Failed"


class TaskInvalid(TaskBase):
    """A task that does not exist was asked for."""

    def __init__(self, task, fn, metadata):
        super().__init__(task, fn, None, metadata)
        self._message = "No such task '%s'" % task


class TaskProgress(event.Event):
    """Progress of the running task (0-100, or negative when unknown)."""

    def __init__(self, progress, rate=None):
        self.progress = progress
        self.rate = rate
        event.Event.__init__(self)


def _prepare_dirs(func, flags, d, dirs):
    """Clean ``[cleandirs]``, create ``[dirs]``; the last one is the working directory."""
    for cdir in d.expand(flags.get("cleandirs") or "").split():
        bb.utils.remove(cdir, True)
        bb.utils.mkdirhier(cdir)
    if dirs is None:
        dirs = d.expand(flags.get("dirs") or "").split()
    for adir in dirs:
        bb.utils.mkdirhier(adir)
    return dirs[-1] if dirs else None


def exec_func(func, d, dirs=None):
    """Run the metadata function ``func`` (see the module documentation)."""
    flags = d.getVarFlags(func) or {}
    body = d.getVar(func, False)
    if not body:
        if body is None:
            logger.warning("Function %s doesn't exist", func)
        return
    if not flags.get("python"):
        raise FuncFailed(func, "it is a shell function; shell functions run only in the build sandbox, "
                               "not while metadata is parsed")
    cwd = _prepare_dirs(func, flags, d, dirs)
    lockfiles = d.expand(flags.get("lockfiles") or "").split() or None
    with bb.utils.fileslocked(lockfiles):
        exec_func_python(func, d, None, cwd=cwd)


def exec_func_python(func, d, runfile, cwd=None):
    """Compile the Python function ``func`` as ``def func(d):`` and call it."""
    olddir = None
    if cwd:
        try:
            olddir = os.getcwd()
        except OSError as exc:
            bb.warn("%s: Cannot get cwd: %s" % (func, exc))
        os.chdir(cwd)
    bb.debug(2, "Executing python function %s" % func)
    try:
        text = "def %s(d):\n%s" % (func, d.getVar(func, False))
        filename = d.getVarFlag(func, "filename", False) or func
        lineno = int(d.getVarFlag(func, "lineno", False) or 1)
        bb.methodpool.insert_method(func, text, filename, lineno - 1)
        call = "%s(d)\n" % func
        code = bb.utils.better_compile(call, func, "exec_func_python() autogenerated")
        bb.utils.better_exec(code, {"d": d}, call, "exec_func_python() autogenerated")
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        bb.debug(2, "Python function %s finished" % func)
        if olddir:
            try:
                os.chdir(olddir)
            except OSError as exc:
                bb.warn("%s: Cannot restore cwd %s: %s" % (func, olddir, exc))


def shell_trap_code():
    """The preamble of generated shell scripts: stop at the first failure and report it."""
    return (
        "#!/bin/sh\n"
        "# Stop at the first failing command and report its exit code.\n"
        "set -e\n"
        "__bb_exit_report() {\n"
        "    rc=$?\n"
        "    if [ \"$rc\" != 0 ]; then\n"
        "        echo \"WARNING: exit code $rc from a shell command.\"\n"
        "    fi\n"
        "    exit $rc\n"
        "}\n"
        "trap __bb_exit_report 0\n"
    )


_TASK_DEP_FLAGS = ("mcdepends", "depends", "rdepends", "deptask", "rdeptask", "recrdeptask", "recideptask",
                   "nostamp", "fakeroot", "noexec", "umask")


def add_tasks(tasklist, d):
    """Collect the dependency flags of ``tasklist`` into ``_task_deps``.

    ``_task_deps`` maps each flag name to ``{task: expanded value}``, plus
    "tasks" (the task names) and "parents" (each task's ``deps``); every
    task gets its ``task`` flag set.
    """
    task_deps = d.getVar("_task_deps", False) or {}
    task_deps.setdefault("tasks", [])
    task_deps.setdefault("parents", {})
    for task in tasklist:
        task = d.expand(task)
        d.setVarFlag(task, "task", 1)
        if task not in task_deps["tasks"]:
            task_deps["tasks"].append(task)
        flags = d.getVarFlags(task) or {}
        for name in _TASK_DEP_FLAGS:
            table = task_deps.setdefault(name, {})
            if name not in flags:
                continue
            value = d.expand(flags[name])
            if name in ("noexec", "fakeroot", "nostamp") and value != "1":
                bb.warn("In a future version of BitBake, setting the '{}' flag to something other than '1' "
                        "will result in the flag not being set. See YP bug #13808.".format(name))
            table[task] = value
        task_deps["parents"][task] = [d.expand(dep) for dep in flags.get("deps", [])]
    d.setVar("_task_deps", task_deps)


def ensure_task_prefix(name):
    """``name`` with a ``do_`` prefix."""
    return name if name.startswith("do_") else "do_" + name


def addtask(task, before, after, d):
    """Add ``task`` (``do_`` prefixed if needed) running after/before the given tasks."""
    _rstore.addtask(task, before, after, d)


def deltask(task, d):
    """Remove ``task`` and every dependency on it."""
    _rstore.deltask(task, d)


def preceedtask(task, with_recrdeptasks, d):
    """Tasks of this recipe that ``task`` runs after (plus ``[recrdeptask]`` if asked)."""
    preceding = set()
    if task not in (d.getVar("__BBTASKS", False) or []):
        return preceding
    preceding.update(d.getVarFlag(task, "deps") or [])
    if with_recrdeptasks:
        recrdeptask = d.getVarFlag(task, "recrdeptask")
        if recrdeptask:
            preceding.update(recrdeptask.split())
    return preceding


def tasksbetween(task_start, task_end, d):
    """Tasks on dependency chains from ``task_start`` up to ``task_end``, in walk order."""
    tasks = [k for k in d.keys() if d.getVarFlag(k, "task")]
    found = []

    def walk(task, chain):
        if task in chain:
            bb.fatal("Circular task dependencies as %s depends on itself via the chain %s"
                     % (task, " -> ".join(chain)))
        chain.append(task)
        for other in tasks:
            if other == task:
                continue
            if task == task_end:
                for link in chain:
                    if link not in found:
                        found.append(link)
            elif task in (d.getVarFlag(other, "deps", False) or []):
                walk(other, chain)
        chain.pop()

    walk(task_start, [])
    return found


def listtasks(d):
    """The tasks of the recipe, as a tuple."""
    return tuple(d.getVar("__BBTASKS", False) or ())


def write_taint(task, d):
    """Force ``task`` to rerun next time by tainting its signature."""
    bb.parse.siggen.invalidate_task(task, d.getVar("BB_FILENAME"))


def clean_stamp(task, d):
    """Remove ``task``'s stamp.  rstore keeps no stamp files (the store replaces
    them), so there is nothing to remove."""
    return None


def make_stamp(task, d):
    """Write ``task``'s stamp.  rstore keeps no stamp files (the store replaces
    them), so there is nothing to write."""
    return None
