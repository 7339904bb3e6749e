"""Configuration helpers (BitBake's ``bb.cookerdata``).

Reading the configuration is rstore's importer's job; metadata uses
:func:`findConfigFile` to locate a ``conf/`` file the way BitBake does.
"""

import os

import bb.parse


def findConfigFile(configfile, data):
    """The first ``conf/<configfile>`` under a BBPATH entry, or under the
    current directory or one of its parents; None when there is none."""
    candidates = [os.path.join(entry, "conf", configfile)
                  for entry in (data.getVar("BBPATH") or "").split(":") if entry]
    path = os.getcwd()
    while path != "/":
        candidates.append(os.path.join(path, "conf", configfile))
        path = os.path.dirname(path)
    return next((c for c in candidates if os.path.exists(c)), None)


def findTopdir():
    """The build directory: the one holding ``conf/bblayers.conf`` (else the current one)."""
    found = findConfigFile("bblayers.conf", bb.data.init())
    if found:
        return os.path.dirname(os.path.dirname(found))
    return os.getcwd()


def parse_config_file(fn, data, include=True):
    """Parse a configuration file into ``data`` (see ``bb.parse.handle``)."""
    return bb.parse.handle(fn, data, include, baseconfig=True)
