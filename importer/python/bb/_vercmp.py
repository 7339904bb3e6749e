"""Version comparison as BitBake's ``bb.utils.vercmp*`` does it.

A version string ``[EPOCH:]VERSION[-REVISION]`` is split into its three
parts; versions and revisions are compared piece by piece, where a piece is
a run of digits (compared as a number), a run of ASCII letters (compared as
text), a ``~`` (sorts before everything, even the end of the string) or any
other single character (sorts after numbers and letters).  When one version
runs out of pieces first it is the smaller one, unless the other continues
with ``~``.  Epochs are compared as integers and their difference returned.
"""

import itertools
import re

# Piece ranks: "~" < end-of-version/number < letters < other characters.
_TILDE, _NUMBER, _ALPHA, _OTHER = -1, 0, 1, 2
_END = (_NUMBER, None)

_PIECE = re.compile(r"(?P<num>[0-9]+)|(?P<alpha>[A-Za-z]+)|(?P<other>.)", re.DOTALL)


class VersionStringException(Exception):
    """An invalid version specification (operator or format) was found."""


def explode_version(s):
    """Split a version into ``(rank, value)`` pieces, see the module doc."""
    pieces = []
    for m in _PIECE.finditer(s):
        if m.lastgroup == "num":
            pieces.append((_NUMBER, int(m.group())))
        elif m.lastgroup == "alpha":
            pieces.append((_ALPHA, m.group()))
        elif m.group() == "~":
            pieces.append((_TILDE, "~"))
        else:
            pieces.append((_OTHER, m.group()))
    return pieces


def split_version(s):
    """Split ``[PE:]PV[-PR]`` into ``(pe, pv, pr)``; ``pe`` is an int (0 if absent).

    Spaces and the comparison characters ``<``, ``>`` and ``=`` around the
    string are ignored.  Only the text between the first and a possible
    second ``:`` is kept as the version; the revision is whatever follows the
    last ``-``.
    """
    s = s.strip(" <>=")
    epoch = 0
    if ":" in s:
        fields = s.split(":")
        epoch = int(fields[0])
        s = fields[1]
    revision = ""
    if "-" in s:
        s, revision = s.rsplit("-", 1)
    return (epoch, s, revision)


def vercmp_part(a, b):
    """Compare two version (or revision) strings: -1, 0 or 1."""
    for (rank_a, val_a), (rank_b, val_b) in itertools.zip_longest(
            explode_version(a), explode_version(b), fillvalue=_END):
        if rank_a != rank_b:
            return -1 if rank_a < rank_b else 1
        if val_a is None:
            if val_b is None:
                continue
            return -1
        if val_b is None:
            return 1
        if val_a != val_b:
            return -1 if val_a < val_b else 1
    return 0


def vercmp(ta, tb):
    """Compare ``(epoch, version, revision)`` tuples.

    Returns the epoch difference when the epochs differ, otherwise -1, 0 or 1.
    """
    ea, va, ra = ta
    eb, vb, rb = tb
    result = int(ea or 0) - int(eb or 0)
    if result == 0:
        result = vercmp_part(va, vb)
    if result == 0:
        result = vercmp_part(ra, rb)
    return result


def vercmp_string(a, b):
    """Compare two full version strings (see :func:`split_version`)."""
    return vercmp(split_version(a), split_version(b))


_OPERATORS = {
    "=": lambda r: r == 0,
    "==": lambda r: r == 0,
    "<=": lambda r: r <= 0,
    ">=": lambda r: r >= 0,
    ">": lambda r: r > 0,
    ">>": lambda r: r > 0,
    "<": lambda r: r < 0,
    "<<": lambda r: r < 0,
    "!=": lambda r: r != 0,
}


def vercmp_string_op(a, b, op):
    """Return whether ``a op b`` holds for versions ``a`` and ``b``.

    ``op`` is one of ``=``, ``==``, ``<=``, ``>=``, ``>``, ``>>``, ``<``,
    ``<<`` or ``!=``; anything else raises VersionStringException.
    """
    try:
        test = _OPERATORS[op]
    except KeyError:
        raise VersionStringException('Unsupported comparison operator "%s"' % op) from None
    return test(vercmp_string(a, b))


_SEMVER = re.compile(r"""
    ^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)
    (?:-(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)
        (?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?
    (?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?
    $""", re.VERBOSE)


def is_semver(version):
    """Whether ``version`` follows Semantic Versioning 2.0.0."""
    return _SEMVER.match(version) is not None
