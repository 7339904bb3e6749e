"""``bb.persist_data``: small persistent string tables shared by recipes.

BitBake up to 2.10 ships this module (2.12 removed it); openembedded-core's
``migrate_localcount`` class of those releases reads it from a ``RecipeParsed``
handler. Each domain is a table of string keys and values in
``${PERSISTENT_DIR}/bb_persist_data.sqlite3`` (``${CACHE}`` when PERSISTENT_DIR is
unset), the file BitBake uses, so a build directory's data is found again.
"""

import collections.abc
import os
import re
import sqlite3

__all__ = ["SQLTable", "persist"]

_DOMAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SQLTable(collections.abc.MutableMapping):
    """One domain: a mapping of strings to strings, each operation its own
    transaction."""

    def __init__(self, cachefile, table):
        if not _DOMAIN.match(table):
            raise ValueError("persist_data: domain %r is not a name (letters, digits, _)" % table)
        self.cachefile = cachefile
        self.table = table
        self._query("CREATE TABLE IF NOT EXISTS %s(key TEXT PRIMARY KEY NOT NULL, value TEXT);" % table)

    def _connect(self):
        connection = sqlite3.connect(self.cachefile, timeout=5)
        connection.text_factory = str
        return connection

    def _query(self, sql, args=(), fetch=None):
        connection = self._connect()
        try:
            with connection:
                rows = connection.execute(sql, args)
                return fetch(rows) if fetch else None
        finally:
            connection.close()

    def __getitem__(self, key):
        row = self._query("SELECT value FROM %s WHERE key=?;" % self.table, [key], lambda r: r.fetchone())
        if row is None:
            raise KeyError(key)
        return row[0]

    def __setitem__(self, key, value):
        if not isinstance(key, str):
            raise TypeError("Only string keys are supported")
        if not isinstance(value, str):
            raise TypeError("Only string values are supported")
        self._query("INSERT OR REPLACE INTO %s(key, value) VALUES (?, ?);" % self.table, [key, value])

    def __delitem__(self, key):
        if key not in self:
            raise KeyError(key)
        self._query("DELETE FROM %s WHERE key=?;" % self.table, [key])

    def __contains__(self, key):
        return self._query("SELECT 1 FROM %s WHERE key=?;" % self.table, [key], lambda r: r.fetchone()) is not None

    def __len__(self):
        return self._query("SELECT COUNT(key) FROM %s;" % self.table, (), lambda r: r.fetchone()[0])

    def __iter__(self):
        return iter(self._query("SELECT key FROM %s;" % self.table, (), lambda r: [k for (k,) in r]))

    def get_by_pattern(self, pattern):
        """The values whose key matches the SQL LIKE pattern."""
        return self._query("SELECT value FROM %s WHERE key LIKE ?;" % self.table, [pattern], lambda r: [v for (v,) in r])

    def values(self):
        return self._query("SELECT value FROM %s;" % self.table, (), lambda r: [v for (v,) in r])

    def items(self):
        return self._query("SELECT key, value FROM %s;" % self.table, (), lambda r: [tuple(row) for row in r])

    def itervalues(self):
        return iter(self.values())

    def iteritems(self):
        return iter(self.items())

    def clear(self):
        self._query("DELETE FROM %s;" % self.table)

    def has_key(self, key):
        return key in self


def persist(domain, d):
    """The table of ``domain`` in the build directory's persistent data."""
    import bb
    import bb.utils

    cachedir = d.getVar("PERSISTENT_DIR") or d.getVar("CACHE")
    if not cachedir:
        bb.fatal("Please set the 'PERSISTENT_DIR' or 'CACHE' variable")
    bb.utils.mkdirhier(cachedir)
    return SQLTable(os.path.join(cachedir, "bb_persist_data.sqlite3"), domain)
