"""Recipe and class parsing entry points (BitBake's ``bb.parse.BBHandler``).

Only :func:`inherit` is useful from Python: it asks the importer to inherit
classes into a datastore, exactly like an ``inherit`` statement at
``fn:lineno`` would.
"""

import os

import _rstore
from bb.parse import ParseError  # noqa: F401


def supports(fn, d):
    """Whether ``fn`` is a recipe, class or include file."""
    return os.path.splitext(fn)[1] in (".bb", ".bbclass", ".inc")


def inherit(files, fn, lineno, d, deferred=False):
    """Inherit the classes named in ``files`` (a string, expanded, or a list).

    Classes already inherited are skipped; a class that cannot be found
    raises ParseError naming ``fn`` and ``lineno``.
    """
    if isinstance(files, str):
        names = d.expand(files).split()
    else:
        names = [d.expand(f) for f in files]
    _rstore.inherit(" ".join(names), fn, lineno, d)


def inherit_defer(expression, fn, lineno, d):
    """Queue an ``inherit_defer`` of ``expression``, processed after the recipe is read."""
    queued = list(d.getVar("__BBDEFINHERITS", False) or [])
    queued.append((expression, fn, lineno))
    d.setVar("__BBDEFINHERITS", queued)
