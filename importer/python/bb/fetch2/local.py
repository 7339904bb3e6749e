"""``file://`` URLs: files of the layer, found through ``FILESPATH``."""

import os

import bb
from bb.fetch2 import FetchError, FetchMethod, ParameterError, logger


class Local(FetchMethod):
    """Local files: nothing is downloaded; ``localpath`` is where the file was found."""

    def supports(self, urldata, d):
        return urldata.type == "file"

    def urldata_init(self, ud, d):
        ud.basename = os.path.basename(ud.path)
        ud.basepath = ud.path
        ud.needdonestamp = False
        if "*" in ud.path:
            raise ParameterError("file:// urls using globbing are no longer supported. Please place the "
                                 "files in a directory and reference that instead.", ud.url)

    def localpath(self, urldata, d):
        """The first existing candidate in FILESPATH, else the last one tried."""
        searched = self.localfile_searchpaths(urldata, d)
        if not searched:
            raise FetchError("Unable to search for %s: FILESPATH is empty" % urldata.path, urldata.url)
        return searched[-1]

    def localfile_searchpaths(self, urldata, d):
        """Candidate paths in search order, ending with the one found (if any).

        An absolute path is its own only candidate.
        """
        path = urldata.path
        if path.startswith("/"):
            return [path]
        filespath = d.getVar("FILESPATH")
        if not filespath:
            return []
        found, tried = bb.utils.which(filespath, path, history=True)
        logger.debug2("Using %s for %s" % (found, path))
        return tried

    def need_update(self, ud, d):
        return not os.path.exists(ud.localpath)

    def download(self, urldata, d):
        """Nothing to download: check that the file exists."""
        if self.supports_checksum(urldata) and not os.path.exists(urldata.localpath):
            locations = (d.getVar("FILESPATH") or "").split(":")
            raise FetchError("Unable to find file %s anywhere to download to %s. The paths that were "
                             "searched were:\n    %s" % (urldata.url, urldata.localpath,
                                                         "\n    ".join(locations)))
        return True

    def checkstatus(self, fetch, urldata, d):
        return os.path.exists(urldata.localpath)

    def clean(self, urldata, d):
        return
