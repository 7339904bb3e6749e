"""Task identifiers and run-queue events (BitBake's ``bb.runqueue``).

A task id ("tid") is ``[mc:MC:]FILE:TASK``; an "mcfn" is the file part with
its multiconfig prefix.  The functions here split and build them; the event
classes are those metadata handlers name in their ``[eventmask]``.
"""

import bb
import bb.event


def fn_from_tid(tid):
    """Everything before the last ``:`` (the possibly mc-prefixed file)."""
    return tid.rsplit(":", 1)[0]


def taskname_from_tid(tid):
    """The task name: everything after the last ``:``."""
    return tid.rsplit(":", 1)[1]


def _has_mc(name):
    return name.startswith("mc:") and name.count(":") >= 2


def mc_from_tid(tid):
    """The multiconfig name of ``tid`` ("" for the default configuration)."""
    return tid.split(":")[1] if _has_mc(tid) else ""


def split_mc(n):
    """``(mc, rest)`` of a possibly ``mc:``-prefixed name."""
    if _has_mc(n):
        _, mc, rest = n.split(":", 2)
        return (mc, rest)
    return ("", n)


def split_tid_mcfn(tid):
    """``(mc, fn, taskname, mcfn)`` of a task id."""
    if _has_mc(tid):
        fields = tid.split(":")
        mc = fields[1]
        fn = ":".join(fields[2:-1])
        return (mc, fn, fields[-1], "mc:%s:%s" % (mc, fn))
    fn, taskname = tid.rsplit(":", 1)
    return ("", fn, taskname, fn)


def split_tid(tid):
    """``(mc, fn, taskname)`` of a task id."""
    mc, fn, taskname, _ = split_tid_mcfn(tid)
    return (mc, fn, taskname)


def build_tid(mc, fn, taskname):
    """The task id of ``taskname`` of ``fn`` in multiconfig ``mc``."""
    if mc:
        return "mc:%s:%s:%s" % (mc, fn, taskname)
    return "%s:%s" % (fn, taskname)


class TaskFailure(Exception):
    """A task of the run queue failed."""

    def __init__(self, x):
        self.args = x


class runQueueExitWait(bb.event.Event):
    """Waiting for running tasks to finish."""

    def __init__(self, remain):
        self.remain = remain
        self.message = "Waiting for %s active tasks to finish" % remain
        bb.event.Event.__init__(self)


class runQueueEvent(bb.event.Event):
    """Base of run-queue task events."""

    def __init__(self, task, stats, rq):
        self.taskid = task
        self.taskstring = task
        self.taskname = taskname_from_tid(task)
        self.taskfile = fn_from_tid(task)
        self.taskhash = rq.rqdata.get_task_hash(task)
        self.stats = stats.copy()
        bb.event.Event.__init__(self)


class sceneQueueEvent(runQueueEvent):
    """Base of setscene task events."""

    def __init__(self, task, stats, rq, noexec=False):
        runQueueEvent.__init__(self, task, stats, rq)
        self.taskstring = task + "_setscene"
        self.taskname = taskname_from_tid(task) + "_setscene"


class runQueueTaskStarted(runQueueEvent):
    """A task started."""

    def __init__(self, task, stats, rq, noexec=False):
        runQueueEvent.__init__(self, task, stats, rq)
        self.noexec = noexec


class sceneQueueTaskStarted(sceneQueueEvent):
    """A setscene task started."""

    def __init__(self, task, stats, rq, noexec=False):
        sceneQueueEvent.__init__(self, task, stats, rq)
        self.noexec = noexec


class runQueueTaskFailed(runQueueEvent):
    """A task failed."""

    def __init__(self, task, stats, exitcode, rq, fakeroot_log=None):
        runQueueEvent.__init__(self, task, stats, rq)
        self.exitcode = exitcode
        self.fakeroot_log = fakeroot_log

    def __str__(self):
        text = "Task (%s) failed with exit code '%s'" % (self.taskstring, self.exitcode)
        if self.fakeroot_log:
            text += " \nPseudo log:\n%s" % self.fakeroot_log
        return text


class sceneQueueTaskFailed(sceneQueueEvent):
    """A setscene task failed; the real task runs instead."""

    def __init__(self, task, stats, exitcode, rq):
        sceneQueueEvent.__init__(self, task, stats, rq)
        self.exitcode = exitcode

    def __str__(self):
        return "Setscene task (%s) failed with exit code '%s' - real task will be run instead" % (
            self.taskstring, self.exitcode)


class sceneQueueComplete(sceneQueueEvent):
    """All setscene tasks are done."""

    def __init__(self, stats, rq):
        self.stats = stats.copy()
        bb.event.Event.__init__(self)


class runQueueTaskCompleted(runQueueEvent):
    """A task completed."""


class sceneQueueTaskCompleted(sceneQueueEvent):
    """A setscene task completed."""


class runQueueTaskSkipped(runQueueEvent):
    """A task was skipped."""

    def __init__(self, task, stats, rq, reason):
        runQueueEvent.__init__(self, task, stats, rq)
        self.reason = reason


class taskUniHashUpdate(bb.event.Event):
    """A task's unihash changed."""

    def __init__(self, task, unihash):
        self.taskid = task
        self.unihash = unihash
        bb.event.Event.__init__(self)


class PSIEvent(bb.event.Event):
    """Pressure-stall information crossed a threshold."""

    def __init__(self, pressure_state, pressure_values):
        super().__init__()
        self.pressure_state = pressure_state
        self.pressure_values = pressure_values
