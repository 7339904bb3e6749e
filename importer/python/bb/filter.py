"""Variable filters (BitBake's ``bb.filter``).

A variable may carry a filter expression (``setVarFilter``); when the
variable is read, the expression is evaluated with the value bound to
``val`` and the result replaces the value.  Expressions run with no builtins
except the pure functions registered with :func:`filter_proc`; the result of
each (value, expression) pair is cached because registered functions are
required to be pure.
"""

__all__ = ["apply_filters", "filter_proc", "Namespace", "FILTERS"]


class Namespace:
    """A read-only attribute namespace filled like a dict (``ns["x"] = f``).

    Used for dotted filter names such as ``bb.utils.explode_deps``.
    """

    def __getitem__(self, name):
        return self.__dict__[name]

    def __setitem__(self, name, value):
        self.__dict__[name] = value

    def __contains__(self, name):
        return name in self.__dict__

    def __setattr__(self, name, value):
        raise AttributeError("Attribute %r cannot be changed" % name)

    def __delattr__(self, name):
        raise AttributeError("Attribute %r cannot be deleted" % name)


# The globals filter expressions see; "__builtins__" is empty on purpose.
FILTERS = {"__builtins__": {}}

_results = {}


def filter_proc(*, name=None):
    """Decorator registering a pure function for use in filter expressions.

    ``name`` may be dotted ("bb.utils.explode_deps") to place the function in
    a namespace; by default the function's own name is used.
    """

    def register(func):
        parts = (name or func.__name__).split(".")
        scope = FILTERS
        for part in parts[:-1]:
            if part not in scope:
                scope[part] = Namespace()
            scope = scope[part]
        scope[parts[-1]] = func
        return func

    return register


def apply_filters(val, expressions):
    """Apply each non-blank expression in ``expressions`` to ``val`` in turn."""
    scope = dict(FILTERS)
    for expression in expressions:
        expression = expression.strip()
        if not expression:
            continue
        key = (val, expression)
        try:
            result = _results[key]
        except KeyError:
            result = eval(expression, scope, {"val": val})
            _results[key] = result
        except TypeError:  # unhashable value: evaluate without caching
            result = eval(expression, scope, {"val": val})
        val = result
    return val


for _builtin in (all, any, bin, bool, chr, enumerate, float, format, hex, int,
                 len, map, max, min, oct, ord, pow, str, sum):
    filter_proc()(_builtin)
del _builtin


@filter_proc()
def suffix(val, suffix):
    """Append ``suffix`` to every word of ``val``."""
    return " ".join(word + suffix for word in val.split())


@filter_proc()
def prefix(val, prefix):
    """Put ``prefix`` in front of every word of ``val``."""
    return " ".join(prefix + word for word in val.split())


@filter_proc()
def sort(val):
    """Sort the words of ``val``."""
    return " ".join(sorted(val.split()))


@filter_proc()
def remove(val, remove, sep=None):
    """Drop the items in ``remove`` (a list, or a string split on ``sep``).

    ``val`` is split on ``sep`` (whitespace when None) and joined back with
    ``sep`` (a single space when None).
    """
    if isinstance(remove, str):
        remove = remove.split(sep)
    kept = [item for item in val.split(sep) if item not in remove]
    return (sep if sep else " ").join(kept)
