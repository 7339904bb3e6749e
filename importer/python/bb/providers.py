"""Provider errors (BitBake's ``bb.providers``).

Choosing providers is done by rstore's importer; metadata only catches
these exceptions.
"""


class NoProvider(Exception):
    """Nothing provides a wanted build-time dependency."""


class NoRProvider(Exception):
    """Nothing provides a wanted run-time dependency."""


class MultipleRProvider(Exception):
    """Several recipes provide the same run-time dependency."""
