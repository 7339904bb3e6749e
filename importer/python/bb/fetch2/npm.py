"""npm registry helpers (``bb.fetch2.npm``).

The ``npm://`` fetch method itself is disabled in this BitBake release: a
recipe using it is skipped, with the reason given.  The naming helpers are
used by the npm class when it handles shrinkwrap files.
"""

import base64
import os
import re

import bb
from bb.fetch2 import FetchError, FetchMethod, runfetchcmd


def npm_package(package):
    """A file-name-safe form of an npm package name ("@scope/name" -> "@scope-name")."""
    name = package.replace("/", "-").lower()
    name = re.sub(r"[^\-a-z0-9@]", "", name)
    return name.strip("-")


def npm_filename(package, version):
    """The tarball name of ``package`` at ``version``."""
    return "%s-%s.tgz" % (npm_package(package), version)


def npm_localfile(package, version=None):
    """Where the tarball lives below DL_DIR."""
    name = npm_filename(package, version) if version is not None else package
    return os.path.join("npm2", name)


def npm_integrity(integrity):
    """``(checksum name, hex value)`` from a subresource-integrity string ("sha512-...")."""
    algo, value = integrity.split("-", maxsplit=1)
    return "%ssum" % algo, base64.b64decode(value).hex()


def npm_unpack(tarball, destdir, d):
    """Unpack an npm tarball into ``destdir`` (dropping the top directory)."""
    bb.utils.mkdirhier(destdir)
    runfetchcmd(["tar", "--extract", "--gzip", "--file=%s" % tarball, "--no-same-owner",
                 "--delay-directory-restore", "--strip-components=1"], d, workdir=destdir)
    runfetchcmd(["chmod", "-R", "+X", destdir], d, quiet=True, workdir=destdir)


class NpmEnvironment:
    """Runs npm commands with a controlled configuration.

    Running npm is a build step; it is not available while parsing.
    """

    def __init__(self, d, configs=[], npmrc=None):
        self.d = d
        self.configs = list(configs)
        self.npmrc = npmrc

    def run(self, cmd, args=None, configs=None, workdir=None):
        raise FetchError("npm commands run in the build sandbox, not while metadata is parsed (%s)" % cmd)


class Npm(FetchMethod):
    """``npm://`` URLs: the method is disabled, the recipe is skipped."""

    def supports(self, ud, d):
        if ud.type == "npm":
            from bb.parse import SkipRecipe
            raise SkipRecipe("The npm fetcher has been disabled due to security issues and there is no "
                             "maintainer to address them")
        return False
