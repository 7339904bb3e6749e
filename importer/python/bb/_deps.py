"""Dependency-string helpers of ``bb.utils`` (``DEPENDS``/``RDEPENDS`` syntax).

A dependency string is a whitespace separated list of names, each optionally
followed by a parenthesised version constraint such as ``(>= 1.2)``; commas
are ignored.
"""

import collections

import bb
import bb.filter
from bb._vercmp import VersionStringException

# Two-character operators must be tried before their one-character prefixes.
_OPERATORS = ("<=", "=<", "<<", "==", "!=", ">=", "=>", ">>", "<", ">", "=")


@bb.filter.filter_proc(name="bb.utils.explode_deps")
def explode_deps(s):
    """Return the dependency names of ``s`` in order, dropping versions."""
    names = []
    in_version = False
    for word in s.split():
        if word.startswith("("):
            in_version = True
        if not in_version:
            names.append(word)
        elif word.endswith(")"):
            in_version = False
    return names


def explode_dep_versions2(s, *, sort=True):
    """Return an ordered dict mapping each dependency to its constraints.

    Every constraint is a string ``"OP VERSION"``; names without a
    constraint map to an empty list.  A constraint whose version spans
    several words adds one entry per word, each with the words seen so far
    (as BitBake does).  The result is sorted by name unless ``sort`` is
    false.  A parenthesis that does not start with a known operator raises
    VersionStringException.
    """
    result = collections.OrderedDict()
    dep = None
    op = ""
    version = ""
    want_operator = False
    in_version = False
    for word in s.replace(",", "").split():
        if word.startswith("("):
            want_operator = True
            word = word[1:].strip()
            if not word:
                continue
        if want_operator:
            want_operator = False
            in_version = True
            for candidate in _OPERATORS:
                if word.startswith(candidate):
                    op = candidate
                    word = word[len(candidate):]
                    break
            else:
                raise VersionStringException(
                    'Invalid version specification in "(%s" - invalid or missing operator' % word)
            if not word:
                continue
        if in_version:
            if word.endswith(")"):
                word = word[:-1]
                in_version = False
                if version and word:
                    version += " "
            if word:
                version += word
                result.setdefault(dep, []).append(op + " " + version)
            continue
        dep = word
        op = ""
        version = ""
        if not result.get(word):
            result[word] = []
    if sort:
        result = collections.OrderedDict(sorted(result.items(), key=lambda item: item[0]))
    return result


def explode_dep_versions(s):
    """Like :func:`explode_dep_versions2` with one constraint (or None) per name.

    A name with several constraints keeps the first and a warning is printed.
    """
    result = explode_dep_versions2(s)
    for name, constraints in result.items():
        if not constraints:
            result[name] = None
            continue
        if len(constraints) > 1:
            bb.warn("explode_dep_versions(): Item %s appeared in dependency string '%s' multiple times "
                    "with different values.  explode_dep_versions cannot cope with this." % (name, s))
        result[name] = constraints[0]
    return result


def join_deps(deps, commasep=True):
    """Turn the result of ``explode_dep_versions*`` back into a string.

    Items are joined with ", " (or " " when ``commasep`` is false).
    """
    items = []
    for name, constraint in deps.items():
        if not constraint:
            items.append(name)
        elif isinstance(constraint, list):
            items.extend("%s (%s)" % (name, c) for c in constraint)
        else:
            items.append("%s (%s)" % (name, constraint))
    return (", " if commasep else " ").join(items)
