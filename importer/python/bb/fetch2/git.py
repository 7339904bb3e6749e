"""Git repositories (``git://``, ``gitsm://``, ``gitannex://``, ``gomodgit://``).

At parse time a git URL yields its protocol, branch, the revision to check
out (from SRCREV, ``rev=`` or ``tag=``; "AUTOINC" and non-hash revisions are
resolved with ``git ls-remote``), the clone directory in DL_DIR and the
mirror tarball names.
"""

import hashlib
import os
import re
import shlex
import urllib.parse

import bb
from bb.fetch2 import FetchError, FetchMethod, MissingParameterError, ParameterError, runfetchcmd

git_hash_re = re.compile(r"^[0-9a-f]{40,64}$")
slash_re = re.compile(r"/+")

_PROTOCOLS = ("git", "file", "ssh", "http", "https", "rsync")
_DEFAULT_GITCMD = ("git -c gc.autoDetach=false -c core.pager=cat -c safe.bareRepository=all "
                   "-c clone.defaultRemoteName=origin")


def _flag(ud, name):
    return ud.parm.get(name, "0") == "1"


def _depth(value, what):
    try:
        depth = int(value or 0)
    except ValueError:
        raise FetchError("Invalid depth for %s: %s" % (what, value)) from None
    if depth < 0:
        raise FetchError("Invalid depth for %s: %s" % (what, value))
    return depth


class Git(FetchMethod):
    """Git repositories."""

    types = ("git",)

    def supports(self, ud, d):
        return ud.type in self.types

    def supports_checksum(self, urldata):
        return False

    def cleanup_upon_failure(self):
        return False

    def supports_srcrev(self):
        return True

    def urldata_init(self, ud, d):
        self._protocol(ud)
        ud.nocheckout = _flag(ud, "nocheckout")
        ud.rebaseable = _flag(ud, "rebaseable")
        ud.nobranch = _flag(ud, "nobranch")
        ud.usehead = _flag(ud, "usehead")
        if ud.usehead:
            if ud.proto != "file":
                raise ParameterError("The usehead option is only for use with local ('protocol=file') git "
                                     "repositories", ud.url)
            ud.nobranch = 1
        ud.bareclone = _flag(ud, "bareclone")
        if ud.bareclone:
            ud.nocheckout = 1
        ud.branch = ud.parm.get("branch", "")
        if not ud.branch and not ud.nobranch:
            raise ParameterError("The url does not set any branch parameter or set nobranch=1.", ud.url)
        ud.unresolvedrev = "HEAD" if ud.usehead else ud.branch
        ud.noshared = d.getVar("BB_GIT_NOSHARED") == "1"
        ud.cloneflags = ["-n"] + ([] if ud.noshared else ["-s"]) + (["--mirror"] if ud.bareclone else [])
        self._shallow_settings(ud, d)
        ud.basecmd = shlex.split(d.getVar("FETCHCMD_git") or _DEFAULT_GITCMD)
        write_tarballs = d.getVar("BB_GENERATE_MIRROR_TARBALLS") or "0"
        ud.write_tarballs = write_tarballs != "0" or ud.rebaseable
        ud.write_shallow_tarballs = (d.getVar("BB_GENERATE_SHALLOW_TARBALLS") or write_tarballs) != "0"

        ud.setup_revisions(d)
        if not git_hash_re.match(ud.revision or ""):
            if ud.revision:
                ud.unresolvedrev = ud.revision
            ud.revision = self.latest_revision(ud, d, ud.name)

        gitsrcname = "%s%s" % (ud.host.replace(":", "."), ud.path.replace("/", ".").replace("*", ".")
                               .replace(" ", "_").replace("(", "_").replace(")", "_"))
        if gitsrcname.startswith("."):
            gitsrcname = gitsrcname[1:]
        if ud.rebaseable:
            gitsrcname += "_" + ud.revision
        dl_dir = d.getVar("DL_DIR")
        ud.clonedir = os.path.join(d.getVar("GITDIR") or (dl_dir + "/git2"), gitsrcname)
        ud.localfile = ud.clonedir
        mirrortarball = "git2_%s.tar.gz" % gitsrcname
        ud.fullmirror = os.path.join(dl_dir, mirrortarball)
        ud.mirrortarballs = [mirrortarball]
        if ud.shallow:
            ud.shallowtarball = self._shallow_tarball_name(ud, gitsrcname)
            ud.fullshallow = os.path.join(dl_dir, ud.shallowtarball)
            ud.mirrortarballs.insert(0, ud.shallowtarball)

    def _protocol(self, ud):
        if "protocol" in ud.parm:
            ud.proto = ud.parm["protocol"]
        elif not ud.host:
            ud.proto = "file"
        else:
            ud.proto = "git"
        if ud.host == "github.com" and ud.proto == "git":
            ud.proto = "https"
            bb.warn("URL: %s uses git protocol which is no longer supported by github. Please change to "
                    ";protocol=https in the url." % ud.url)
        if ud.proto not in _PROTOCOLS:
            raise ParameterError("Invalid protocol type: '%s'" % ud.proto, ud.url)

    def _shallow_settings(self, ud, d):
        ud.shallow_skip_fast = False
        ud.shallow = d.getVar("BB_GIT_SHALLOW") == "1"
        ud.shallow_extra_refs = (d.getVar("BB_GIT_SHALLOW_EXTRA_REFS") or "").split()
        if "tag" in ud.parm:
            ud.shallow_extra_refs.append("refs/tags/" + ud.parm["tag"])
        default = d.getVar("BB_GIT_SHALLOW_DEPTH")
        default = 1 if default is None else _depth(default, "BB_GIT_SHALLOW_DEPTH")
        ud.shallow_depths = {}
        ud.shallow_depth_default = default
        own = d.getVar("BB_GIT_SHALLOW_DEPTH_%s" % ud.name)
        if own is not None:
            ud.shallow_depths[ud.name] = _depth(own, "BB_GIT_SHALLOW_DEPTH_%s" % ud.name)
        ud.shallow_revs = []
        revs = d.getVar("BB_GIT_SHALLOW_REVS_%s" % ud.name)
        if revs is None:
            revs = d.getVar("BB_GIT_SHALLOW_REVS")
        if revs is not None:
            ud.shallow_revs.extend(revs.split())
        if ud.shallow and not ud.shallow_revs and ud.shallow_depths.get(ud.name, default) == 0:
            ud.shallow = False

    def _shallow_tarball_name(self, ud, gitsrcname):
        name = gitsrcname + ("_bare" if ud.bareclone else "")
        if ud.shallow_revs:
            name += "_" + "_".join(sorted(ud.shallow_revs))
        name += "_" + ud.revision[:7]
        depth = ud.shallow_depths.get(ud.name, ud.shallow_depth_default)
        if depth:
            name += "-%s" % depth
        refs = [] if ud.nobranch else [ud.branch]
        refs.extend(r.replace("refs/heads/", "").replace("*", "ALL") for r in ud.shallow_extra_refs)
        if refs:
            name += "_" + "_".join(sorted(refs)).replace("/", ".")
        return "%sshallow_%s.tar.gz" % (type(self).__name__.lower(), name)

    def localpath(self, ud, d):
        return ud.clonedir

    def _get_repo_url(self, ud):
        user = ud.user + "@" if ud.user else ""
        return "%s://%s%s%s" % (ud.proto, user, ud.host, urllib.parse.quote(ud.path))

    def _revision_key(self, ud, d, name):
        return "git:" + ud.host + slash_re.sub(".", ud.path) + ud.unresolvedrev

    def _lsremote(self, ud, d, search):
        if d.getVar("_BB_GIT_IN_LSREMOTE", False):
            return ""
        d.setVar("_BB_GIT_IN_LSREMOTE", "1")
        try:
            repourl = self._get_repo_url(ud)
            cmd = ud.basecmd + ["ls-remote", repourl] + ([search] if search else [])
            if ud.proto.lower() != "file":
                bb.fetch2.check_network_access(d, cmd, repourl)
            output = runfetchcmd(cmd, d, True)
            if not output:
                raise FetchError("The command %s gave empty output unexpectedly" % cmd, ud.url)
            return output
        finally:
            d.delVar("_BB_GIT_IN_LSREMOTE")

    def _latest_revision(self, ud, d, name):
        """The commit a branch or tag currently points to, from ``git ls-remote``."""
        if not d.getVar("__BBSRCREV_SEEN"):
            raise FetchError("Recipe uses a floating tag/branch '%s' for repo '%s' without a fixed SRCREV yet "
                             "doesn't call bb.fetch2.get_srcrev() (use SRCPV in PV for OE)."
                             % (ud.unresolvedrev, ud.host + ud.path))
        bb.fetch2.mark_recipe_nocache(d)
        output = self._lsremote(ud, d, "")
        if ud.unresolvedrev.startswith("refs/") or ud.usehead:
            head = tag = ud.unresolvedrev
        else:
            head = "refs/heads/%s" % ud.unresolvedrev
            tag = "refs/tags/%s" % ud.unresolvedrev
        refs = {}
        for line in output.strip().split("\n"):
            fields = line.split()
            if len(fields) == 2:
                refs.setdefault(fields[1], fields[0])
        for wanted in (head, tag + "^{}", tag):
            if wanted in refs:
                return refs[wanted]
        raise FetchError("Unable to resolve '%s' in upstream git repository in git ls-remote output for %s"
                         % (ud.unresolvedrev, ud.host + ud.path))

    def _build_revision(self, ud, d, name):
        return ud.revision


class GitSM(Git):
    """Git repositories with their submodules."""

    types = ("gitsm",)


class GitANNEX(Git):
    """Git repositories using git-annex."""

    types = ("gitannex",)


class GoModGit(Git):
    """``gomodgit://MODULE;version=V``: a Go module fetched from its git repository."""

    types = ("gomodgit",)

    def urldata_init(self, ud, d):
        moddir = d.getVar("GO_MOD_CACHE_DIR") or "pkg/mod"
        if "version" not in ud.parm:
            raise MissingParameterError("version", ud.url)
        module = ud.host + (ud.path if ud.path != "/" else "")
        ud.parm["module"] = module
        if "repo" in ud.parm:
            repo = ud.parm["repo"]
            slash = repo.find("/")
            if slash != -1:
                ud.host, ud.path = repo[:slash], repo[slash:]
            else:
                ud.host, ud.path = repo, ""
        ud.parm.setdefault("protocol", "https")
        ud.name = "%s@%s" % (module, ud.parm["version"])
        srcrev = d.getVar("SRCREV_" + ud.name)
        if srcrev:
            ud.parm.setdefault("srcrev", srcrev)
        elif "srcrev" in ud.parm:
            d.setVar("SRCREV_" + ud.name, ud.parm["srcrev"])
        if "branch" not in ud.parm:
            ud.parm["nobranch"] = "1"
        if "subdir" in ud.parm:
            ud.parm["subpath"] = ud.parm["subdir"]
        key = ("git3:%s://%s%s" % (ud.parm["protocol"], ud.host, ud.path)).encode()
        ud.parm["key"] = key
        ud.parm["subdir"] = os.path.join(moddir, "cache/vcs", hashlib.sha256(key).hexdigest())
        ud.parm["bareclone"] = "1"
        super().urldata_init(ud, d)
