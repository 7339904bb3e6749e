"""Running external commands (BitBake's ``bb.process``).

:func:`run` runs a command (a string goes through the shell), returns its
decoded ``(stdout, stderr)`` and raises :class:`ExecutionError` on a non-zero
exit, :class:`NotFoundError` when the program does not exist.
"""

import logging
import selectors
import signal
import subprocess

logger = logging.getLogger("BitBake.Process")


def subprocess_setup():
    """Restore default SIGPIPE handling in the child (Python ignores it)."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


class CmdError(RuntimeError):
    """A command could not be run."""

    def __init__(self, command, msg=None):
        self.command = command
        self.msg = msg

    def __str__(self):
        cmd = self.command if isinstance(self.command, str) else subprocess.list2cmdline(self.command)
        text = "Execution of '%s' failed" % cmd
        if self.msg:
            text += ": %s" % self.msg
        return text


class NotFoundError(CmdError):
    """The program of a command does not exist."""

    def __str__(self):
        return CmdError.__str__(self) + ": command not found"


class ExecutionError(CmdError):
    """A command exited with a non-zero status; its output is attached."""

    def __init__(self, command, exitcode, stdout=None, stderr=None):
        CmdError.__init__(self, command)
        self.exitcode = exitcode
        self.stdout = stdout
        self.stderr = stderr
        self.extra_message = None

    def __str__(self):
        output = (self.stderr or "") + (self.stdout or "")
        if output:
            output = ":\n" + output
        return "%s with exit code %s%s%s" % (CmdError.__str__(self), self.exitcode, output,
                                            self.extra_message or "")


class Popen(subprocess.Popen):
    """``subprocess.Popen`` with pipes for all streams and closed descriptors by default."""

    defaults = {
        "close_fds": True,
        "preexec_fn": subprocess_setup,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "stdin": subprocess.PIPE,
        "shell": False,
    }

    def __init__(self, *args, **kwargs):
        options = dict(self.defaults)
        options.update(kwargs)
        super().__init__(*args, **options)


def _decode(chunks):
    return b"".join(chunks).decode("utf-8")


def _communicate_logged(pipe, log, input, extrafiles):
    """Read stdout/stderr as they come, copying them to ``log``."""
    if pipe.stdin:
        if input is not None:
            pipe.stdin.write(input)
        pipe.stdin.close()
    out, err = [], []
    selector = selectors.DefaultSelector()
    if pipe.stdout is not None:
        selector.register(pipe.stdout, selectors.EVENT_READ, out)
    if pipe.stderr is not None:
        selector.register(pipe.stderr, selectors.EVENT_READ, err)
    for fobj, func in extrafiles:
        selector.register(fobj, selectors.EVENT_READ, func)
    while selector.get_map():
        for key, _ in selector.select():
            data = key.fileobj.read1(65536) if hasattr(key.fileobj, "read1") else key.fileobj.read()
            if not data:
                selector.unregister(key.fileobj)
                continue
            if callable(key.data):
                key.data(data)
                continue
            key.data.append(data)
            log.write(data.decode("utf-8", errors="replace"))
            log.flush()
    pipe.wait()
    return _decode(out), _decode(err)


def run(cmd, input=None, log=None, extrafiles=None, **options):
    """Run ``cmd`` and return ``(stdout, stderr)`` as text.

    A string command runs through the shell unless ``shell`` is given.
    With ``log`` the output is copied to it while the command runs (and is
    then not repeated in an ExecutionError).
    """
    if isinstance(cmd, str) and "shell" not in options:
        options["shell"] = True
    try:
        pipe = Popen(cmd, **options)
    except FileNotFoundError:
        raise NotFoundError(cmd) from None
    except OSError as exc:
        raise CmdError(cmd, exc) from exc
    if log:
        stdout, stderr = _communicate_logged(pipe, log, input, extrafiles or [])
    else:
        stdout, stderr = pipe.communicate(input)
        stdout = stdout.decode("utf-8") if stdout is not None else None
        stderr = stderr.decode("utf-8") if stderr is not None else None
    if pipe.returncode != 0:
        if log:
            raise ExecutionError(cmd, pipe.returncode, None, None)
        raise ExecutionError(cmd, pipe.returncode, stdout, stderr)
    return stdout, stderr
