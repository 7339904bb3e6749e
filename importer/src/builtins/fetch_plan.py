"""What rstore's fetch, unpack and patch built-ins need to know about SRC_URI.

Runs in the embedded interpreter against a recipe datastore, using the bundled
``bb.fetch2`` for what BitBake's fetcher answers (methods, download names,
FILESPATH lookups, checksums, SRCREV) and working out the mirror URLs the way
BitBake's fetcher does when it downloads: every (pattern, replacement) pair of
PREMIRRORS or MIRRORS whose pattern matches a URL gives a candidate, with the
download's file name kept, and candidates are rewritten again by the remaining
pairs.  ``plan(d)`` returns the result as JSON for the Rust side.
"""

import json
import os
import re

import bb
import bb.fetch2
from bb.fetch2 import decodemirrorurl, encodeurl, mirror_from_string

_NETWORK_TYPES = ("http", "https", "ftp", "ftps")


def _replacements(ud):
    """The words a mirror replacement may use, from the original URL."""
    return {
        "TYPE": ud.type,
        "HOST": ud.host,
        "PATH": ud.path,
        "BASENAME": ud.path.split("/")[-1],
        "MIRRORNAME": ud.host.replace(":", ".") + ud.path.replace("/", ".").replace("*", "."),
    }


def _substitute(text, words):
    for key, value in words.items():
        text = text.replace(key, value)
    return text


def _checksummed_basename(ud):
    """The file name a mirror must provide for a download that has checksums."""
    if not ud.localpath:
        return None
    try:
        if not ud.method.supports_checksum(ud):
            return None
    except Exception:
        return None
    return os.path.basename(ud.localpath)


def rewrite(ud, pattern, replacement, words, tarball=None):
    """The URL ``pattern`` -> ``replacement`` makes of ``ud.url``, or None.

    Each part of the URL (type, host, path, user, password, parameters) is
    matched against the pattern's part as a regular expression and replaced;
    the type must match as a whole.  A file with checksums keeps its name on
    the mirror; a mirror of another type serves ``tarball`` instead (git
    mirror tarballs).
    """
    url = list(decodemirrorurl(ud.url))
    find = list(decodemirrorurl(pattern))
    repl = list(decodemirrorurl(replacement))
    out = ["", "", "", "", "", {}]
    for part in range(6):
        out[part] = url[part]
        expression = find[part]
        if part == 0 and expression and not expression.endswith("$"):
            expression += "$"
        if part == 5:
            for key, value in find[5].items():
                if url[5].get(key) != value:
                    return None
            params = dict(out[5])
            for key, value in repl[5].items():
                params[key] = _substitute(value, words)
            out[5] = params
            continue
        if part in (3, 4) and repl[part]:
            out[part] = repl[part]
            continue
        if not re.match(expression, url[part]):
            return None
        if repl[part]:
            out[part] = re.sub(expression, _substitute(repl[part], words), url[part], count=1)
        else:
            out[part] = ""
        if part == 2:
            basename = None
            if url[0] != repl[0] and tarball:
                basename = os.path.basename(tarball)
                url[5] = {}
                find[5] = {}
                out[5] = {}
            else:
                basename = _checksummed_basename(ud)
            if basename:
                old_base = os.path.basename(url[2])
                path = "/" + out[2]
                if old_base and basename != old_base and path.endswith("/" + old_base):
                    out[2] = path[1:-len(old_base)] + basename
                elif not path.endswith("/" + basename):
                    out[2] = os.path.join(path[1:], basename)
    result = encodeurl(out)
    return None if result == ud.url else result


def mirror_urls(origud, pairs, d):
    """``[(url, FetchData, is_tarball)]``: every URL the mirror pairs give for origud."""
    found = []
    _add_mirror_urls(origud, origud, list(pairs), d, _replacements(origud), found, set())
    return found


def _add_mirror_urls(origud, ud, remaining, d, words, found, seen):
    # A plain recursive function, not a closure: a self-referencing closure would be a
    # reference cycle holding ``d``, freed later by the garbage collector on whatever
    # thread runs it.
    tarballs = origud.mirrortarballs or [None]
    for pair in remaining:
        for tarball in tarballs:
            new = rewrite(ud, pair[0], pair[1], words, tarball)
            if not new or new in seen or new == origud.url:
                continue
            rest = [p for p in remaining if p is not pair]
            try:
                newud = bb.fetch2.FetchData(new, d)
                newud.setup_localpath(d)
            except bb.fetch2.BBFetchException as exc:
                bb.debug(1, "mirror URL %s is not usable: %s" % (new, exc))
                continue
            seen.add(new)
            # Only a mirror of another type serves the tarball instead of the source.
            found.append((new, newud, tarball is not None and newud.type != origud.type))
            _add_mirror_urls(origud, newud, rest, d, words, found, seen)


def _params(ud):
    return {str(k): "" if v is None else str(v) for k, v in ud.parm.items()}


def _candidate(url, ud, stage, tarball):
    """A candidate as the Rust side takes it (``tarball``: it serves a mirror tarball
    of a git repository)."""
    entry = {"stage": stage, "type": ud.type, "tarball": bool(tarball)}
    if ud.type == "file":
        entry["url"] = "file://" + (ud.localpath or ud.path)
        entry["path"] = ud.localpath or ud.path
    elif ud.type in ("git", "gitsm") and not tarball:
        entry["url"] = ud.method._get_repo_url(ud)
        entry["path"] = ud.path if ud.proto == "file" else None
    else:
        entry["url"] = ud.url.split(";")[0]
        entry["path"] = None
    return entry


def _describe(url, ud, d, premirrors, mirrors):
    entry = {"url": url, "type": ud.type, "path": ud.path, "params": _params(ud)}
    method = type(ud.method).__name__
    if method == "Local":
        searched = ud.method.localfile_searchpaths(ud, d)
        found = next((p for p in searched if os.path.exists(p)), None)
        entry.update(kind="local", found=found, searched=searched)
        return entry
    if ud.type not in ("git",) and hasattr(ud, "localfile") and ud.method.recommends_checksum(ud):
        ud.setup_localpath(d)
        entry.update(
            kind="file",
            name=os.path.basename(ud.localpath),
            local=os.path.relpath(ud.localpath, d.getVar("DL_DIR")),
            sha256=ud.sha256_expected or None,
            md5=ud.md5_expected or None,
            sha256_flag=ud.sha256_name,
            upstream=ud.url.split(";")[0],
        )
    elif method == "Git":
        entry.update(
            kind="git",
            revision=ud.revision,
            clone_name=os.path.basename(ud.clonedir),
            upstream=ud.method._get_repo_url(ud),
            proto=ud.proto,
            mirror_tarball=(ud.mirrortarballs or [None])[-1],
        )
    else:
        entry.update(kind="unsupported", method=method)
        return entry
    entry["premirrors"] = [_candidate(u, n, "premirror", t) for u, n, t in mirror_urls(ud, premirrors, d)]
    entry["mirrors"] = [_candidate(u, n, "mirror", t) for u, n, t in mirror_urls(ud, mirrors, d)]
    return entry


def plan(d):
    """JSON: one object per SRC_URI entry, in order."""
    urls = (d.getVar("SRC_URI") or "").split()
    if not urls:
        return "[]"
    fetcher = bb.fetch2.Fetch(urls, d)
    premirrors = mirror_from_string(d.getVar("PREMIRRORS"))
    mirrors = mirror_from_string(d.getVar("MIRRORS"))
    out = []
    for url in fetcher.urls:
        out.append(_describe(url, fetcher.ud[url], d, premirrors, mirrors))
    return json.dumps(out)
