"""npm shrinkwrap helpers (``bb.fetch2.npmsw``).

The ``npmsw://`` fetch method is disabled in this BitBake release (no
method supports such URLs); :func:`foreach_dependencies` is still used by
the npm class.
"""

from bb.fetch2 import FetchError, FetchMethod


def foreach_dependencies(shrinkwrap, callback=None, dev=False):
    """Call ``callback(name, data, location)`` for every package of a shrinkwrap.

    Only entries below ``node_modules/`` count; development dependencies
    are skipped unless ``dev``, bundled ones always.
    """
    packages = shrinkwrap.get("packages")
    if not packages:
        raise FetchError("Invalid shrinkwrap file format")
    for location, data in packages.items():
        if not location.startswith("node_modules/"):
            continue
        if data.get("dev", False) and not dev:
            continue
        if data.get("inBundle", False):
            continue
        callback(location.split("node_modules/")[-1], data, location)


class NpmShrinkWrap(FetchMethod):
    """``npmsw://`` URLs: disabled, no URL is supported."""

    def supports(self, ud, d):
        return False
