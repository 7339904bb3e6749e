"""BitBake's tool API (``bb.tinfoil``).

Tinfoil drives a running BitBake server.  rstore has no BitBake server:
tools built on tinfoil (devtool, recipetool, ...) cannot run on top of it.
The module imports so that metadata mentioning its names still parses, and
constructing :class:`Tinfoil` fails with a clear message.
"""


class TinfoilUIException(Exception):
    """Failure while the user interface was running."""

    def __init__(self, returncode):
        self.returncode = returncode

    def __repr__(self):
        return "UI module main returned %d" % self.returncode


class TinfoilCommandFailed(Exception):
    """A command sent to the server failed."""


class TinfoilDataStoreConnector:
    """Connects a remote datastore to a Tinfoil server (not available in rstore)."""

    def __init__(self, tinfoil, dsindex):
        raise TinfoilCommandFailed("rstore has no BitBake server to connect a datastore to")


class Tinfoil:
    """A connection to a BitBake server; rstore has none."""

    def __init__(self, output=None, tracking=False, setup_logging=True):
        raise TinfoilCommandFailed("bb.tinfoil.Tinfoil needs a BitBake server; rstore reads metadata itself "
                                   "(use the rstore command line instead)")
