"""Configuration file entry points (BitBake's ``bb.parse.ConfHandler``).

Configuration files are read by the importer; this module keeps the pieces
metadata may name.
"""

import os


def supports(fn, d):
    """Whether ``fn`` is a configuration file."""
    return os.path.splitext(fn)[1] == ".conf"
