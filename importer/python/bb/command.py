"""Command completion events (BitBake's ``bb.command``).

Tools driving BitBake wait for these; they are defined so that metadata
and tools naming them keep working.
"""

import bb.event


class CommandCompleted(bb.event.Event):
    """A command finished successfully."""


class CommandExit(bb.event.Event):
    """A command finished with an exit code."""

    def __init__(self, exitcode):
        bb.event.Event.__init__(self)
        self.exitcode = int(exitcode)


class CommandFailed(CommandExit):
    """A command failed with an error message."""

    def __init__(self, message):
        self.error = message
        CommandExit.__init__(self, 1)

    def __str__(self):
        return "Command execution failed: %s" % self.error


class CommandError(Exception):
    """A command could not be run."""
