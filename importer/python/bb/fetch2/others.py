"""The less common fetch methods: Subversion, Mercurial, Perforce, repo,
ClearCase, ssh/sftp, S3 and Google Cloud Storage.

Each knows at parse time where its download lands in DL_DIR and, for the
version control systems, which revision (SRCREV) it uses.  Resolving
"AUTOINC" needs the SCM's server, which only a fetch task may contact.
"""

import os
import re

from bb.fetch2 import FetchError, FetchMethod, MissingParameterError, ParameterError


def _basename_localfile(ud):
    ud.basename = ud.parm.get("downloadfilename") or os.path.basename(ud.path)
    ud.localfile = ud.basename


class _FileMethod(FetchMethod):
    """Methods that download one file, named after the URL's path."""

    types = ()

    def supports(self, ud, d):
        return ud.type in self.types

    def urldata_init(self, ud, d):
        _basename_localfile(ud)


class S3(_FileMethod):
    """``s3://BUCKET/PATH`` objects."""

    types = ("s3",)


class GCP(_FileMethod):
    """``gs://BUCKET/PATH`` objects."""

    types = ("gs",)


class SFTP(_FileMethod):
    """``sftp://`` files."""

    types = ("sftp",)

    def urldata_init(self, ud, d):
        if ud.parm.get("protocol") == "git":
            raise ParameterError("Invalid protocol - if you wish to fetch from a git repository using ssh, "
                                 "you need to use the git:// prefix with protocol=ssh", ud.url)
        _basename_localfile(ud)


_SSH_URL = re.compile(r"""
    \s*ssh://
    ((?P<user>\S+)(:(?P<pass>\S+))?(?P<cparam>(;[^;]+)*)?@)?
    (?P<host>\S+?)(:(?P<port>[0-9]+))?
    /(?P<path>[^;]+)
    (?P<sparam>(;[^;]+)*)?$
    """, re.VERBOSE)


class SSH(FetchMethod):
    """``ssh://[user@]host[:port]/path`` files copied with scp."""

    def supports(self, urldata, d):
        return _SSH_URL.match(urldata.url) is not None

    def supports_checksum(self, urldata):
        return False

    def urldata_init(self, urldata, d):
        if urldata.parm.get("protocol") == "git":
            raise ParameterError("Invalid protocol - if you wish to fetch from a git repository using ssh, "
                                 "you need to use the git:// prefix with protocol=ssh", urldata.url)
        m = _SSH_URL.match(urldata.url)
        path = m.group("path") if m else urldata.path
        urldata.localfile = os.path.basename(path)


class _ScmMethod(FetchMethod):
    """Version control methods: SRCREV says which revision is used."""

    types = ()

    def supports(self, ud, d):
        return ud.type in self.types

    def supports_srcrev(self):
        return True

    def supports_checksum(self, urldata):
        return False

    def _latest_revision(self, ud, d, name):
        raise FetchError("SRCREV = AUTOINC for %s URLs needs the server; set a fixed SRCREV" % ud.type, ud.url)


class Svn(_ScmMethod):
    """Subversion (``svn://HOST/PATH;module=M``)."""

    types = ("svn",)

    def urldata_init(self, ud, d):
        if "module" not in ud.parm:
            raise MissingParameterError("module", ud.url)
        ud.module = ud.parm["module"]
        ud.path_spec = ud.parm.get("path_spec", ud.module)
        svndir = d.getVar("SVNDIR") or (d.getVar("DL_DIR") + "/svn")
        ud.pkgdir = os.path.join(svndir, ud.host, self._strip_leading_slashes(ud.path))
        ud.moddir = os.path.join(ud.pkgdir, ud.path_spec)
        ud.svnlock = os.path.join(ud.pkgdir, "svn.lock")
        ud.setup_revisions(d)
        if "rev" in ud.parm:
            ud.revision = ud.parm["rev"]
        ud.pegrevision = "nopegrevision" not in ud.parm
        ud.localfile = d.expand("%s_%s_%s_%s_%s.tar.gz" % (
            ud.module.replace("/", "."), ud.host, ud.path.replace("/", "."), ud.revision,
            "1" if ud.pegrevision else "0"))

    def _revision_key(self, ud, d, name):
        return "svn:" + ud.moddir

    def sortable_revision(self, ud, d, name):
        return False, ud.revision


class Hg(_ScmMethod):
    """Mercurial (``hg://HOST/PATH;module=M``)."""

    types = ("hg",)

    def urldata_init(self, ud, d):
        if "module" not in ud.parm:
            raise MissingParameterError("module", ud.url)
        ud.module = ud.parm["module"]
        if "protocol" in ud.parm:
            ud.proto = ud.parm["protocol"]
        else:
            ud.proto = "hg" if ud.host else "file"
        name = "%s_%s_%s" % (ud.module.replace("/", "."), ud.host, ud.path.replace("/", "."))
        mirrortarball = "hg_%s.tar.gz" % name
        ud.fullmirror = os.path.join(d.getVar("DL_DIR"), mirrortarball)
        ud.mirrortarballs = [mirrortarball]
        ud.pkgdir = os.path.join(d.getVar("HGDIR") or (d.getVar("DL_DIR") + "/hg"), name)
        ud.moddir = os.path.join(ud.pkgdir, ud.module)
        ud.localfile = ud.moddir
        ud.setup_revisions(d)
        if "rev" in ud.parm:
            ud.revision = ud.parm["rev"]
        elif not ud.revision:
            ud.revision = self.latest_revision(ud, d, ud.name)

    def _revision_key(self, ud, d, name):
        return "hg:" + ud.moddir

    def localpath(self, ud, d):
        return ud.pkgdir


class Perforce(_ScmMethod):
    """Perforce depots (``p4://[user:pswd@]HOST:PORT/DEPOT/PATH``, optional ``module=``).

    The server must be named in the URL: asking P4CONFIG would need the
    server while parsing.
    """

    types = ("p4",)

    def urldata_init(self, ud, d):
        if not ud.host:
            raise FetchError("The p4 URL must name its server (asking P4CONFIG needs the network)", ud.url)
        ud.module = ud.parm.get("module")
        ud.pathisdir = "/..." in ud.path
        if ud.pathisdir and ud.module:
            raise FetchError("SRC_URI depot path cannot not end in /... when a module value is given")
        path = ud.path.replace("/...", "").replace("/", ".")
        host = ud.host.replace(":", ".")
        module = ""
        if ud.module:
            if ud.module.startswith("/"):
                raise FetchError("module cannot begin with /")
            ud.path = os.path.join(ud.path, ud.module)
            module = ud.module.replace("/...", "").replace("/", ".")
            path += "--%s" % module
        ud.pkgdir = os.path.join(d.getVar("P4DIR") or (d.getVar("DL_DIR") + "/p4"), host, path)
        ud.setup_revisions(d)
        ud.localfile = d.expand("%s_%s_%s_%s.tar.gz" % (host, path, module, ud.revision))

    def sortable_revision(self, ud, d, name):
        return False, ud.revision


class Repo(FetchMethod):
    """Google's ``repo`` manifests (``repo://``)."""

    def supports(self, ud, d):
        return ud.type == "repo"

    def urldata_init(self, ud, d):
        ud.proto = ud.parm.get("protocol", "git")
        ud.branch = ud.parm.get("branch", "master")
        ud.manifest = ud.parm.get("manifest", "default.xml")
        if not ud.manifest.endswith(".xml"):
            ud.manifest += ".xml"
        ud.localfile = d.expand("repo_%s%s_%s_%s.tar.gz" % (ud.host, ud.path.replace("/", "."),
                                                            ud.manifest, ud.branch))

    def supports_srcrev(self):
        return False


class ClearCase(_ScmMethod):
    """IBM ClearCase (``ccrc://``); SRCREV is the label to check out."""

    types = ("ccrc",)

    def urldata_init(self, ud, d):
        for needed in ("vob", "module"):
            if needed not in ud.parm:
                raise MissingParameterError(needed, ud.url)
        if d.getVar("SRCREV") == "INVALID":
            raise FetchError("Set a valid SRCREV for the clearcase fetcher in your recipe, e.g. "
                             "SRCREV = \"/main/LATEST\" or any other label of your choice.")
        ud.vob = ud.parm["vob"]
        ud.module = ud.parm["module"]
        ud.label = d.getVar("SRCREV", False)
        ud.identifier = "clearcase-%s%s-%s" % (ud.vob.replace("/", ""), ud.module.replace("/", "."),
                                               ud.label.replace("/", "."))
        ud.localfile = "%s.tar.gz" % ud.identifier

    def sortable_revision(self, ud, d, name):
        return False, ud.identifier
