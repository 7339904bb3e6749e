"""HTTP(S)/FTP(S) downloads and the methods built on them (crates, Go modules, Azure)."""

import os
import re

import bb
from bb.fetch2 import FetchMethod, MissingParameterError, ParameterError, encodeurl, logger


class Wget(FetchMethod):
    """``http``, ``https``, ``ftp`` and ``ftps`` URLs, saved in DL_DIR under their base name.

    ``downloadfilename=`` chooses another name.
    """

    types = ("http", "https", "ftp", "ftps")

    def supports(self, ud, d):
        return ud.type in self.types

    def recommends_checksum(self, urldata):
        return True

    def urldata_init(self, ud, d):
        if ud.parm.get("protocol") == "git":
            raise ParameterError("Invalid protocol - if you wish to fetch from a git repository using http, "
                                 "you need to instead use the git:// prefix with protocol=http", ud.url)
        ud.basename = ud.parm.get("downloadfilename") or os.path.basename(ud.path)
        ud.localfile = ud.basename or ud.host + ud.path.replace("/", ".")


class Az(Wget):
    """``az://`` Azure storage URLs (downloaded over https)."""

    types = ("az",)


def _crate_index_path(name):
    """Path of a crate in the crates.io sparse index."""
    if len(name) <= 2:
        return "%d/%s" % (len(name), name)
    if len(name) == 3:
        return "3/%s/%s" % (name[0], name)
    return "%s/%s/%s" % (name[0:2], name[2:4], name)


class Crate(Wget):
    """``crate://HOST/NAME/VERSION``: a Rust crate, saved as NAME-VERSION.crate.

    Unless the URL names itself, its checksum name is NAME-VERSION.
    """

    types = ("crate",)

    def urldata_init(self, ud, d):
        parts = ud.url.split("/")
        if len(parts) < 5:
            raise ParameterError("Invalid URL: Must be crate://HOST/NAME/VERSION", ud.url)
        version = parts[-1].split(";")[0]
        name = parts[-2]
        host = "/".join(parts[2:-2])
        proto = ud.parm.get("protocol", "https")
        if host == "crates.io":
            if proto != "https":
                bb.warn("URL: %s does the %s protocol which is not supported by crates.io. Please change to "
                        ";protocol=https in the url." % (ud.url, proto))
            ud.url = "https://static.crates.io/crates/%s/%s/download" % (name, version)
            ud.versionsurl = "https://index.crates.io/" + _crate_index_path(name)
        else:
            ud.url = "%s://%s/%s/%s/download" % (proto, host, name, version)
            ud.versionsurl = "%s://%s/%s/versions" % (proto, host, name)
        ud.parm["downloadfilename"] = "%s-%s.crate" % (name, version)
        ud.parm.setdefault("name", "%s-%s" % (name, version))
        logger.debug2("Fetching %s to %s" % (ud.url, ud.parm["downloadfilename"]))
        super().urldata_init(ud, d)


def go_escape(path):
    """Go module path escaping: an upper-case letter becomes "!" and its lower case."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), path)


class GoMod(Wget):
    """``gomod://MODULE;version=V``: a Go module zip (or ``mod=1``: its go.mod) from the module proxy."""

    types = ("gomod",)

    def urldata_init(self, ud, d):
        proxy = d.getVar("GO_MOD_PROXY") or "proxy.golang.org"
        moddir = d.getVar("GO_MOD_CACHE_DIR") or "pkg/mod"
        if "version" not in ud.parm:
            raise MissingParameterError("version", ud.url)
        module = ud.host + (ud.path if ud.path != "/" else "")
        ud.parm["module"] = module
        version = ud.parm["version"]
        ext = ".mod" if ud.parm.get("mod", "0") == "1" else ".zip"
        path = go_escape("%s/@v/%s%s" % (module, version, ext))
        ud.url = encodeurl(("https", proxy, "/" + path, None, None, None))
        ud.parm["downloadfilename"] = "%s@%s%s" % (module.replace("/", "."), version, ext)
        ud.parm["name"] = "%s@%s" % (module, version)
        ud.parm["unpackpath"] = os.path.join(moddir, "cache/download", path)
        super().urldata_init(ud, d)
