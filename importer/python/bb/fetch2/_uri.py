"""URL parsing the way BitBake's fetcher does it (``bb.fetch2.URI``).

BitBake URLs extend RFC 3986: everything after the first ``;`` is a list of
``name=value`` parameters; ``file://relative/path`` means a path relative to
``FILESPATH`` (no host); ``file:`` and ``git:`` URLs without ``//`` are
relative.  Host names are lower-cased, the path is percent-decoded, and
``?query`` is kept separately from the parameters.
"""

import collections
import re
import urllib.parse

_NETLOC_FORBIDDEN = ("file",)
_RELATIVE_SCHEMES = ("file", "git")
_NO_SLASHES = re.compile(r"^\w+:(?!//)")


def _split_pairs(text, separator):
    """``a=1;b`` -> OrderedDict(a="1", b=None)."""
    pairs = collections.OrderedDict()
    for item in text.split(separator):
        if not item:
            continue
        if "=" in item:
            key, value = item.split("=", 1)
        else:
            key, value = item, None
        pairs[key] = value
    return pairs


class URI:
    """A parsed URL with ``scheme``, ``userinfo`` (``username``, ``password``),
    ``hostname``, ``port``, ``path``, ``params`` (after ``;``), ``query`` and
    ``relative``; ``str()`` gives the URL back.
    """

    def __init__(self, uri=None):
        self.scheme = ""
        self.userinfo = ""
        self.hostname = ""
        self.port = None
        self._path = ""
        self.params = {}
        self.query = {}
        self.relative = False
        if not uri:
            return

        uri, _, params = uri.partition(";")
        parsed = urllib.parse.urlparse(uri)
        self.scheme = parsed.scheme
        if parsed.scheme in _NETLOC_FORBIDDEN:
            # "file://foo" names the relative path "foo", not a host.
            uri = re.sub(r"(?<=:)//(?!/)", "", uri, count=1)
            parsed = urllib.parse.urlparse(uri)
        if parsed.scheme in _RELATIVE_SCHEMES and _NO_SLASHES.match(uri):
            self.relative = True
        if not self.relative:
            self.hostname = parsed.hostname or ""
            self.port = parsed.port
            self.userinfo = parsed.username or ""
            if parsed.password:
                self.userinfo += ":%s" % parsed.password
        # Setting the path decides relative for good.
        self.path = urllib.parse.unquote(parsed.path)
        if params:
            self.params = _split_pairs(params, ";")
        if parsed.query:
            self.query = _split_pairs(parsed.query, "&")

    def __str__(self):
        userinfo = self.userinfo + "@" if self.userinfo else ""
        query = ""
        if self.query:
            query = "?" + "&".join("=".join([k, v]) if v else k for k, v in self.query.items())
        params = ""
        if self.params:
            params = ";" + ";".join("=".join([k, v]) for k, v in self.params.items())
        return "%s:%s%s%s%s%s%s" % (self.scheme, "" if self.relative else "//", userinfo,
                                    self.hostport, self.path_quoted, query, params)

    @property
    def hostport(self):
        """``hostname:port``, or just the host name without a port."""
        if not self.port:
            return self.hostname
        return "%s:%d" % (self.hostname, self.port)

    @property
    def path_quoted(self):
        """The path, percent-encoded."""
        return urllib.parse.quote(self.path)

    @path_quoted.setter
    def path_quoted(self, path):
        self.path = urllib.parse.unquote(path)

    @property
    def path(self):
        """The decoded path; a path not starting with "/" makes the URI relative."""
        return self._path

    @path.setter
    def path(self, path):
        self._path = path
        self.relative = bool(path) and not path.startswith("/")

    @property
    def username(self):
        """The user name part of ``userinfo``."""
        return self.userinfo.split(":", 1)[0] if self.userinfo else ""

    @username.setter
    def username(self, username):
        password = self.password
        self.userinfo = username + (":%s" % password if password else "")

    @property
    def password(self):
        """The password part of ``userinfo`` (deprecated by RFC 3986)."""
        if self.userinfo and ":" in self.userinfo:
            return self.userinfo.split(":", 1)[1]
        return ""

    @password.setter
    def password(self, password):
        self.userinfo = "%s:%s" % (self.username, password)
