"""The fetcher's parse-time side (BitBake's ``bb.fetch2``, also ``bb.fetch``).

While metadata is parsed, BitBake's fetcher is asked what ``SRC_URI`` means:
which method handles each URL, where the download lands (``localpath``),
which local files a recipe uses (``get_checksum_file_list``), which
checksums are expected and which source revisions (``SRCREV``) are used
(``get_srcrev``, ``get_hashvalue``).  All of that is reproduced here.

Downloading, unpacking and mirror handling belong to rstore's fetch tasks;
calling them from Python raises :class:`FetchError` saying so.
"""

import collections
import logging
import os
import re
import urllib.parse

import bb
import bb.event
import bb.process
import bb.utils
from bb.fetch2._uri import URI

logger = logging.getLogger("BitBake.Fetcher")

__version__ = "2"

CHECKSUM_LIST = ["goh1", "md5", "sha256", "sha1", "sha384", "sha512"]
SHOWN_CHECKSUM_LIST = ["sha256"]

# URL types whose checksum is looked up in SRC_URI[...] flags.
_CHECKSUMMED_TYPES = ("http", "https", "ftp", "ftps", "sftp", "s3", "az", "crate", "gs", "gomod", "npm")


class BBFetchException(Exception):
    """Base of every fetcher error."""

    def __init__(self, message):
        self.msg = message
        Exception.__init__(self, message)

    def __str__(self):
        return self.msg


class UntrustedUrl(BBFetchException):
    """A URL is not in BB_ALLOWED_NETWORKS."""

    def __init__(self, url, message=""):
        msg = message or "The URL: '%s' is not trusted and cannot be used" % url
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (url,)


class MalformedUrl(BBFetchException):
    """A URL cannot be parsed."""

    def __init__(self, url, message=""):
        msg = message or "The URL: '%s' is invalid and cannot be interpreted" % url
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (url,)


class FetchError(BBFetchException):
    """Fetching failed."""

    def __init__(self, message, url=None):
        msg = "Fetcher failure for URL: '%s'. %s" % (url, message) if url else "Fetcher failure: %s" % message
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (message, url)


class ChecksumError(FetchError):
    """A download does not match its expected checksum."""

    def __init__(self, message, url=None, checksum=None):
        self.checksum = checksum
        FetchError.__init__(self, message, url)


class NoChecksumError(FetchError):
    """A download has no expected checksum and one is required."""


class UnpackError(BBFetchException):
    """Unpacking failed."""

    def __init__(self, message, url):
        msg = "Unpack failure for URL: '%s'. %s" % (url, message)
        self.url = url
        BBFetchException.__init__(self, msg)
        self.args = (message, url)


class LocalModificationsError(UnpackError):
    """An unpacked tree has local modifications that would be lost."""

    def __init__(self, repodir, url, git_output):
        UnpackError.__init__(self, "Repository at %s has uncommitted changes, unable to update:\n%s"
                             % (repodir, git_output), url)


class RebaseError(UnpackError):
    """Rebasing an unpacked tree failed."""

    def __init__(self, repodir, url, git_output):
        UnpackError.__init__(self, "Repository at %s cannot be updated to the new revision:\n%s"
                             % (repodir, git_output), url)


class NoMethodError(BBFetchException):
    """No fetch method supports the URL."""

    def __init__(self, url):
        self.url = url
        BBFetchException.__init__(self, "Could not find a fetcher which supports the URL: '%s'" % url)
        self.args = (url,)


class MissingParameterError(BBFetchException):
    """A URL lacks a parameter its method needs."""

    def __init__(self, missing, url):
        self.url = url
        self.missing = missing
        BBFetchException.__init__(self, "URL: '%s' is missing the required parameter '%s'" % (url, missing))
        self.args = (missing, url)


class ParameterError(BBFetchException):
    """A URL parameter is invalid."""

    def __init__(self, message, url):
        self.url = url
        BBFetchException.__init__(self, "URL: '%s' has invalid parameters. %s" % (url, message))
        self.args = (message, url)


class NetworkAccess(BBFetchException):
    """Network access was needed while it is disabled (BB_NO_NETWORK)."""

    def __init__(self, url, cmd):
        self.url = url
        self.cmd = cmd
        BBFetchException.__init__(self, "Network access disabled through BB_NO_NETWORK (or set indirectly "
                                  "due to use of BB_FETCH_PREMIRRORONLY) but access requested with command "
                                  "%s (for url %s)" % (cmd, url))
        self.args = (url, cmd)


class NonLocalMethod(Exception):
    """Raised for a non-local URL when only local files were asked for."""


class MissingChecksumEvent(bb.event.Event):
    """A download had no expected checksum; carries the computed ones."""

    def __init__(self, url, **checksums):
        self.url = url
        self.checksums = checksums
        bb.event.Event.__init__(self)


def decodeurl(url):
    """``(type, host, path, user, password, params)`` of a URL ("/" for an empty path)."""
    uri = URI(url)
    return uri.scheme, uri.hostport, uri.path or "/", uri.username, uri.password, uri.params


_MIRROR_URL = re.compile(r"(?P<type>[^:]*)://((?P<user>[^/;]+)@)?(?P<location>[^;]+)(;(?P<parm>.*))?")


def decodemirrorurl(url):
    """Like :func:`decodeurl` for the patterns of MIRRORS/PREMIRRORS (regular expressions allowed)."""
    m = _MIRROR_URL.match(url)
    if not m or not m.group("location"):
        raise MalformedUrl(url)
    kind, location, user, parm = m.group("type"), m.group("location"), m.group("user"), m.group("parm")
    slash = location.find("/")
    if kind.lower() == "file":
        host, path = "", location
        if user:
            path = user + "@" + path
            user = ""
    elif slash != -1:
        host, path = location[:slash], location[slash:]
    else:
        host, path = location, "/"
    pswd = ""
    if user:
        name, _, pswd = user.partition(":")
        user = name
    else:
        user = ""
    params = collections.OrderedDict()
    for item in (parm or "").split(";"):
        if not item:
            continue
        if "=" not in item:
            raise MalformedUrl(url, "The URL: '%s' is invalid: parameter %s does not specify a value "
                                    "(missing '=')" % (url, item))
        key, value = item.split("=", 1)
        params[key] = value
    return kind, host, urllib.parse.unquote(path), user, pswd, params


def encodeurl(decoded):
    """The URL for ``(type, host, path, user, password, params)``; inverse of :func:`decodeurl`."""
    kind, host, path, user, pswd, params = decoded
    if not kind:
        raise MissingParameterError("type", "encoded from the data %s" % str(decoded))
    uri = URI()
    uri.scheme = kind
    if user and kind != "file":
        uri.username = user
        if pswd:
            uri.password = pswd
    if host and kind != "file":
        uri.hostname = host
    if path:
        while "//" in path:
            path = path.replace("//", "/")
        uri.path = path
        if kind == "file":
            uri.relative = False
    if params:
        uri.params = params
    return str(uri)


def mirror_from_string(data):
    """Pairs ``(pattern, replacement)`` from a MIRRORS-style value."""
    items = (data or "").replace("\\n", " ").split()
    if len(items) % 2 != 0:
        bb.warn("Invalid mirror data %s, should have paired members." % data)
    return list(zip(items[0::2], items[1::2]))


# --- fetcher environment ------------------------------------------------

FETCH_EXPORT_VARS = [
    "HOME", "PATH", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "FTPS_PROXY", "ftps_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "GIT_CONFIG_GLOBAL",
    "GIT_PROXY_COMMAND", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SMART_HTTP",
    "SSH_AUTH_SOCK", "SSH_AGENT_PID", "SOCKS5_USER", "SOCKS5_PASSWD", "DBUS_SESSION_BUS_ADDRESS",
    "P4CONFIG", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN", "GIT_CACHE_PATH", "REMOTE_CONTAINERS_IPC",
    "GITHUB_TOKEN", "SSL_CERT_DIR",
]


def get_fetcher_environment(d):
    """The variables of FETCH_EXPORT_VARS that have a value (from ``d`` or BB_ORIGENV)."""
    env = {}
    origenv = d.getVar("BB_ORIGENV")
    for name in FETCH_EXPORT_VARS:
        value = d.getVar(name)
        if not value and origenv:
            value = origenv.getVar(name)
        if value:
            env[name] = value
    return env


def check_network_access(d, info, url):
    """Raise NetworkAccess when BB_NO_NETWORK forbids what ``info`` describes."""
    if bb.utils.to_boolean(d.getVar("BB_NO_NETWORK")):
        raise NetworkAccess(url, info)
    logger.debug("Fetcher accessed the network with the command %s" % info)


def runfetchcmd(cmd, d, quiet=False, cleanup=None, log=None, workdir=None, extraenv=None):
    """Run a fetcher command with the fetcher environment; returns its output.

    A failing command raises FetchError with the command's output.
    """
    env = dict(os.environ)
    env.update(get_fetcher_environment(d))
    env.update(extraenv or {})
    if not quiet:
        logger.debug("Running %s" % cmd)
    try:
        output, errors = bb.process.run(cmd, log=log, cwd=workdir, env=env)
        return output + (errors or "")
    except bb.process.NotFoundError as exc:
        raise FetchError("Fetch command %s not found" % exc.command) from exc
    except bb.process.ExecutionError as exc:
        for path in cleanup or []:
            bb.utils.remove(path, True)
        raise FetchError("Fetch command %s failed with exit code %s, output:\nSTDOUT: %s\nSTDERR: %s"
                         % (exc.command, exc.exitcode, exc.stdout, exc.stderr)) from exc


def subprocess_setup():
    """Restore default SIGPIPE handling in a child process."""
    bb.process.subprocess_setup()


# --- source revisions ---------------------------------------------------

saved_headrevs = {}
_latest_revisions = {}


def fetcher_init(d, servercontext=True):
    """Apply BB_SRCREV_POLICY: "clear" forgets resolved AUTOREV revisions, "cache" keeps them."""
    policy = d.getVar("BB_SRCREV_POLICY") or "clear"
    if policy == "clear":
        _latest_revisions.clear()
    elif policy != "cache":
        raise FetchError("Invalid SRCREV cache policy of: %s" % policy)
    for method in methods:
        if hasattr(method, "init"):
            method.init(d)


def fetcher_parse_save():
    """Nothing to save: resolved revisions live in memory for one rstore run."""


def fetcher_parse_done():
    """Nothing to merge: resolved revisions live in memory for one rstore run."""


def fetcher_compare_revisions(d):
    """Whether resolved revisions changed since :func:`fetcher_init`."""
    return dict(_latest_revisions) != saved_headrevs


def mark_recipe_nocache(d):
    """Mark the recipe as not cacheable (its revision may change)."""
    if d.getVar("BB_SRCREV_POLICY") != "cache":
        d.setVar("BB_DONT_CACHE", "1")


def get_autorev(d):
    """The value of AUTOREV: "AUTOINC", marking the recipe as using floating revisions."""
    mark_recipe_nocache(d)
    d.setVar("__BBAUTOREV_SEEN", True)
    return "AUTOINC"


def _name_revisions(format, names_to_revs):
    """Replace every fetcher name in SRCREV_FORMAT by its revision (longest names first)."""
    names = sorted(names_to_revs, key=len, reverse=True)
    pattern = "|".join(re.escape(name) for name in names)
    return re.sub(pattern, lambda m: names_to_revs[m.group(0)], format)


def _get_srcrev(d, method_name="sortable_revision"):
    """``(version string, [revisions])`` for the SCM URLs of SRC_URI.

    With one SCM the string is its revision (first 10 characters); with
    several, SRCREV_FORMAT with every name replaced by its revision.  A
    leading "AUTOINC+" marks revisions that do not sort.
    """
    d.setVar("__BBSRCREV_SEEN", "1")
    if d.getVar("__BBINSRCREV"):
        raise FetchError("There are recursive references in fetcher variables, likely through SRC_URI")
    d.setVar("__BBINSRCREV", True)
    try:
        fetcher = Fetch((d.getVar("SRC_URI") or "").split(), d)
        scms = [u for u in fetcher.urls if fetcher.ud[u].method.supports_srcrev()]
        revs = []
        if not scms:
            return "", revs
        if len(scms) == 1:
            ud = fetcher.ud[scms[0]]
            autoinc, rev = getattr(ud.method, method_name)(ud, d, ud.name)
            revs.append(rev)
            rev = rev[:10]
            return ("AUTOINC+" + rev if autoinc else rev), revs
        format = d.getVar("SRCREV_FORMAT")
        if not format:
            raise FetchError("The SRCREV_FORMAT variable must be set when multiple SCMs are used.\n"
                             "The SCMs are:\n%s" % "\n".join(scms))
        by_name = {}
        any_autoinc = False
        for url in scms:
            ud = fetcher.ud[url]
            autoinc, rev = getattr(ud.method, method_name)(ud, d, ud.name)
            revs.append(rev)
            any_autoinc = any_autoinc or autoinc
            by_name[ud.name] = rev[:10]
        format = _name_revisions(format, by_name)
        return ("AUTOINC+" + format if any_autoinc else format), revs
    finally:
        d.delVar("__BBINSRCREV")


def get_hashvalue(d, method_name="sortable_revision"):
    """The full revisions of the SCM URLs, space separated (for signatures)."""
    _, revs = _get_srcrev(d, method_name=method_name)
    return " ".join(revs)


def get_pkgv_string(d, method_name="sortable_revision"):
    """The revision string for package versions ("" without SCM URLs)."""
    pkgv, _ = _get_srcrev(d, method_name=method_name)
    return pkgv


def get_srcrev(d, method_name="sortable_revision"):
    """The revision string for PV; FetchError when SRC_URI has no SCM URL."""
    pkgv, _ = _get_srcrev(d, method_name=method_name)
    if not pkgv:
        raise FetchError("SRCREV was used yet no valid SCM was found in SRC_URI")
    return pkgv


def srcrev_internal_helper(ud, d, name):
    """The revision for ``ud``: SRCREV_<name>:pn-<PN>, SRCREV_<name>, SRCREV:pn-<PN>, SRCREV.

    A ``rev=`` URL parameter must agree with SRCREV (or stands alone);
    ``tag=`` is used when no SRCREV is set; "AUTOINC" asks the method for
    the latest revision.
    """
    pn = d.getVar("PN")
    attempts = []
    if name != "" and pn:
        attempts.append("SRCREV_%s:pn-%s" % (name, pn))
    if name != "":
        attempts.append("SRCREV_%s" % name)
    if pn:
        attempts.append("SRCREV:pn-%s" % pn)
    attempts.append("SRCREV")
    srcrev = None
    for attempt in attempts:
        srcrev = d.getVar(attempt)
        if srcrev and srcrev != "INVALID":
            break
    unset = not srcrev or srcrev == "INVALID"
    if "rev" in ud.parm:
        parmrev = ud.parm["rev"]
        if unset:
            return parmrev
        if srcrev != parmrev:
            raise FetchError("Conflicting revisions (%s from SRCREV and %s from the url) found, please "
                             "specify one valid value" % (srcrev, parmrev))
        return parmrev
    if "tag" in ud.parm and unset:
        return ud.parm["tag"]
    if unset:
        raise FetchError("Please set a valid SRCREV for url %s (possible key names are %s, or use a ;rev=X "
                         "URL parameter)" % (str(attempts), ud.url), ud.url)
    if srcrev == "AUTOINC":
        d.setVar("__BBAUTOREV_ACTED_UPON", True)
        srcrev = ud.method.latest_revision(ud, d, name)
    return srcrev


# --- local files ------------------------------------------------------

def get_checksum_file_list(d):
    """``path:True|False`` for every place searched for the local files of SRC_URI.

    Used as ``do_fetch[file-checksums]``; a local file found nowhere stops
    with ``bb.fatal`` listing the paths searched.
    """
    fetch = Fetch([], d, cache=False, localonly=True)
    entries = []
    for url in fetch.urls:
        ud = fetch.ud[url]
        if not ud or not isinstance(ud.method, local.Local):
            continue
        paths = ud.method.localfile_searchpaths(ud, d)
        found = False
        for path in paths:
            exists = os.path.exists(path)
            found = found or exists
            entries.append("%s:%s" % (path, exists))
        if not found:
            bb.fatal("Unable to get checksum for %s SRC_URI entry %s: file could not be found\n"
                     "The following paths were searched:\n%s"
                     % (d.getVar("PN"), os.path.basename(paths[-1]) if paths else url, "\n".join(paths)))
    return " ".join(entries)


def get_file_checksums(filelist, pn, localdirsexclude):
    """``[(path, md5)]`` for the existing entries of a ``path:exists`` list.

    Directories contribute every file below them, skipping the names in
    ``localdirsexclude`` (VCS directories); paths may contain globs.
    """
    import glob
    result = []

    def add_file(path):
        if os.path.isfile(path) and not os.path.islink(path):
            result.append((path, bb.utils.md5_file(path)))
        elif os.path.islink(path):
            result.append((path, None))

    def add_dir(top):
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(x for x in dirs if x not in localdirsexclude)
            for name in sorted(files):
                add_file(os.path.join(root, name))

    for entry in filelist.split():
        path, _, exists = entry.rpartition(":")
        if exists != "True":
            continue
        for match in sorted(glob.glob(path)) if "*" in path else [path]:
            if os.path.isdir(match):
                add_dir(match)
            else:
                add_file(match)
    return result


def localpath(url, d):
    """Where ``url`` is (or will be after download)."""
    return Fetch([url], d).localpath(url)


# --- fetch data and methods ---------------------------------------------

class FetchData:
    """What the fetcher knows about one URL of SRC_URI."""

    def __init__(self, url, d, localonly=False):
        self.donestamp = None
        self.needdonestamp = True
        self.localfile = ""
        self.localpath = None
        self.lockfile = None
        self.mirrortarballs = []
        self.basename = None
        self.basepath = None
        (self.type, self.host, self.path, self.user, self.pswd, self.parm) = decodeurl(d.expand(url))
        self.date = self.getSRCDate(d)
        self.url = url
        if not self.user and "user" in self.parm:
            self.user = self.parm["user"]
        if not self.pswd and "pswd" in self.parm:
            self.pswd = self.parm["pswd"]
        self.setup = False
        self.name = self.parm.get("name", "default")
        if "," in self.name:
            raise ParameterError("The fetcher no longer supports multiple name parameters in a single url",
                                 self.url)
        self.method = next((m for m in methods if m.supports(self, d)), None)
        if not self.method:
            raise NoMethodError(url)
        if localonly and not isinstance(self.method, local.Local):
            raise NonLocalMethod()
        if self.parm.get("proto") and "protocol" not in self.parm:
            logger.warning('Consider updating %s recipe to use "protocol" not "proto" in SRC_URI.',
                           d.getVar("PN"))
            self.parm["protocol"] = self.parm["proto"]
        if hasattr(self.method, "urldata_init"):
            self.method.urldata_init(self, d)
        for checksum_id in CHECKSUM_LIST:
            self._configure_checksum(checksum_id, d)
        self.ignore_checksums = False
        if "localpath" in self.parm:
            self.localpath = self.parm["localpath"]
            self.basename = os.path.basename(self.localpath)
        elif self.localfile:
            self.localpath = self.method.localpath(self, d)
        if not self.needdonestamp:
            return
        dldir = d.getVar("DL_DIR") or ""
        if self.localpath and self.localpath.startswith(dldir):
            basepath = self.localpath
        elif self.localpath:
            basepath = dldir + os.sep + os.path.basename(self.localpath)
        elif self.basepath or self.basename:
            basepath = dldir + os.sep + (self.basepath or self.basename)
        else:
            bb.fatal("Can't determine lock path for url %s" % url)
        self.donestamp = basepath + ".done"
        self.lockfile = basepath + ".lock"

    def _configure_checksum(self, checksum_id, d):
        plain = "%ssum" % checksum_id
        name = "%s.%ssum" % (self.parm["name"], checksum_id) if "name" in self.parm else plain
        if name in self.parm:
            expected = self.parm[name]
        elif plain in self.parm:
            expected = self.parm[plain]
            name = plain
        elif self.type in _CHECKSUMMED_TYPES:
            expected = d.getVarFlag("SRC_URI", name)
        else:
            expected = None
        setattr(self, "%s_name" % checksum_id, name)
        setattr(self, "%s_expected" % checksum_id, expected)

    def setup_revisions(self, d):
        self.revision = srcrev_internal_helper(self, d, self.name)

    def setup_localpath(self, d):
        if not self.localpath:
            self.localpath = self.method.localpath(self, d)

    def getSRCDate(self, d):
        """``srcdate=`` of the URL, else SRCDATE_<PN>, SRCDATE or DATE."""
        if "srcdate" in self.parm:
            return self.parm["srcdate"]
        pn = d.getVar("PN")
        if pn:
            return d.getVar("SRCDATE_%s" % pn) or d.getVar("SRCDATE") or d.getVar("DATE")
        return d.getVar("SRCDATE") or d.getVar("DATE")


def _not_here(what, ud):
    return FetchError("%s is done by rstore's fetch tasks, not from metadata Python" % what, ud.url)


class FetchMethod:
    """Base of the fetch methods: parse-time queries have BitBake's defaults."""

    def __init__(self, urls=None):
        self.urls = []

    def supports(self, urldata, d):
        return False

    def localpath(self, urldata, d):
        return os.path.join(d.getVar("DL_DIR"), urldata.localfile)

    def supports_checksum(self, urldata):
        if urldata.localpath is None:
            return False
        return not os.path.isdir(urldata.localpath)

    def recommends_checksum(self, urldata):
        return False

    def cleanup_upon_failure(self):
        return True

    def need_update(self, ud, d):
        return not os.path.exists(ud.localpath)

    def supports_srcrev(self):
        return False

    def download(self, urldata, d):
        raise _not_here("Downloading", urldata)

    def unpack(self, urldata, rootdir, data):
        raise _not_here("Unpacking", urldata)

    def clean(self, urldata, d):
        raise _not_here("Cleaning downloads", urldata)

    def checkstatus(self, fetch, urldata, d):
        raise _not_here("Checking that a URL exists", urldata)

    def try_premirror(self, urldata, d):
        return True

    def latest_revision(self, ud, d, name):
        """The newest revision (for AUTOREV), asked once per repository and name."""
        if not hasattr(self, "_latest_revision"):
            raise ParameterError("The fetcher for this URL does not support _latest_revision", ud.url)
        key = self.generate_revision_key(ud, d, name)
        if key not in _latest_revisions:
            _latest_revisions[key] = self._latest_revision(ud, d, name)
        return _latest_revisions[key]

    def sortable_revision(self, ud, d, name):
        return True, str(self._build_revision(ud, d, name))

    def _build_revision(self, ud, d, name):
        return ud.revision

    def generate_revision_key(self, ud, d, name):
        return self._revision_key(ud, d, name)

    def _revision_key(self, ud, d, name):
        return "%s:%s%s:%s" % (ud.type, ud.host, ud.path, name)

    def latest_versionstring(self, ud, d, filter_regex=None):
        return ("", "")

    def done(self, ud, d):
        return os.path.exists(ud.localpath)

    def implicit_urldata(self, ud, d):
        return []

    def _strip_leading_slashes(self, relpath):
        return relpath.lstrip("/")


class DummyUnpackTracer:
    """Receives unpack notifications and ignores them."""

    def start(self, unpackdir, urldata_dict, d):
        return

    def start_url(self, url):
        return

    def unpack(self, unpack_type, destdir):
        return

    def finish_url(self, url):
        return

    def complete(self):
        return


unpack_tracer = DummyUnpackTracer()


class Fetch:
    """The URLs of SRC_URI (or ``urls``) with their FetchData in ``ud``.

    BitBake caches FetchData per datastore object identity; here it is
    rebuilt for every Fetch, so a changed SRC_URI or a reused object id can
    never yield stale answers (``cache`` is accepted for compatibility).
    """

    def __init__(self, urls, d, cache=True, localonly=False, connection_cache=None):
        if localonly and cache:
            raise Exception("bb.fetch2.Fetch.__init__: cannot set cache and localonly at same time")
        if not urls:
            urls = (d.getVar("SRC_URI") or "").split()
        self.urls = urls
        self.d = d
        self.ud = {}
        self.connection_cache = connection_cache
        for url in urls:
            if url in self.ud:
                continue
            try:
                self.ud[url] = FetchData(url, d, localonly)
                self.ud[url].unpack_tracer = unpack_tracer
            except NonLocalMethod:
                if localonly:
                    self.ud[url] = None

    def localpath(self, url):
        if url not in self.urls:
            self.ud[url] = FetchData(url, self.d)
        self.ud[url].setup_localpath(self.d)
        return self.ud[url].localpath

    def localpaths(self):
        """Where every URL is (or will be after download)."""
        paths = []
        for url in self.urls:
            ud = self.ud[url]
            ud.setup_localpath(self.d)
            paths.append(ud.localpath)
        return paths

    def expanded_urldata(self, urls=None):
        """FetchData of ``urls`` (default: all) plus the URLs they imply."""
        result = []
        for url in urls or self.urls:
            ud = self.ud[url]
            result.append(ud)
            result.extend(ud.method.implicit_urldata(ud, self.d))
        return result

    def _each(self, action, urls):
        for url in urls or self.urls:
            ud = self.ud[url]
            action(ud)

    def download(self, urls=None):
        """Local files only: check they exist.  Other downloads are rstore's fetch tasks."""
        def check(ud):
            ud.setup_localpath(self.d)
            ud.method.download(ud, self.d)
        self._each(check, urls)

    def checkstatus(self, urls=None):
        self._each(lambda ud: ud.method.checkstatus(self, ud, self.d), urls)

    def unpack(self, root, urls=None, update=False):
        self._each(lambda ud: ud.method.unpack(ud, root, self.d), urls)

    def unpack_update(self, root, urls=None):
        self.unpack(root, urls, update=True)

    def clean(self, urls=None):
        self._each(lambda ud: ud.method.clean(ud, self.d), urls)


class FetchConnectionCache:
    """Keeps connections open per (host, port)."""

    def __init__(self):
        self.cache = {}

    def get_connection_name(self, host, port):
        return "%s:%s" % (host, port)

    def add_connection(self, host, port, connection):
        self.cache.setdefault(self.get_connection_name(host, port), connection)

    def get_connection(self, host, port):
        return self.cache.get(self.get_connection_name(host, port))

    def remove_connection(self, host, port):
        connection = self.cache.pop(self.get_connection_name(host, port), None)
        if connection is not None:
            connection.close()

    def close_connections(self):
        for name in list(self.cache):
            self.cache.pop(name).close()


from bb.fetch2 import local  # noqa: E402
from bb.fetch2 import wget  # noqa: E402
from bb.fetch2 import git  # noqa: E402
from bb.fetch2 import others  # noqa: E402
from bb.fetch2 import npm  # noqa: E402
from bb.fetch2 import npmsw  # noqa: E402

# In BitBake's order: the first method that supports a URL handles it.
methods = [
    local.Local(),
    wget.Wget(),
    others.Svn(),
    git.Git(),
    git.GitSM(),
    git.GitANNEX(),
    others.SSH(),
    others.SFTP(),
    others.S3(),
    others.Perforce(),
    others.Hg(),
    others.Repo(),
    others.ClearCase(),
    npm.Npm(),
    npmsw.NpmShrinkWrap(),
    wget.Az(),
    wget.Crate(),
    others.GCP(),
    wget.GoMod(),
    git.GoModGit(),
]
