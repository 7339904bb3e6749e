"""File-system helpers of ``bb.utils``: directories, removal, copies, locks, hashes.

They follow BitBake's documented behaviour: ``mkdirhier`` is ``mkdir -p``,
``remove`` is ``rm -f``/``rm -rf`` on a glob, copies and moves keep modes,
ownership (where allowed) and times, and lock files are ``flock``-ed files
that are removed again by their last holder.
"""

import contextlib
import errno
import fcntl
import glob
import hashlib
import logging
import os
import random
import re
import shutil
import stat
import string
import subprocess
import tempfile

import bb

logger = logging.getLogger("BitBake.Util")


def mkdirhier(directory):
    """Create ``directory`` and its parents; an existing directory is fine.

    A name that still contains ``${`` is a metadata bug and stops with
    ``bb.fatal`` rather than creating a directory with that name.
    """
    if "${" in str(directory):
        bb.fatal("Directory name {} contains unexpanded bitbake variable. This may cause build failures "
                 "and WORKDIR polution.".format(directory))
    try:
        os.makedirs(directory)
    except FileExistsError:
        if os.path.isdir(directory):
            return
        # A stale attribute cache (NFS) can report EEXIST for a directory that
        # is being created concurrently: look again after listing the parent.
        os.listdir(os.path.dirname(directory) or ".")
        if os.path.isdir(directory):
            return
        raise


def _refuse_dangerous(path):
    """Whether ``path`` is "/", "/home", a home directory or $HOME."""
    candidates = {"/", "//", "/home"}
    home = os.environ.get("HOME", "")
    absolute = os.path.abspath(path)
    if absolute in candidates or (home and absolute == home):
        return True
    return re.fullmatch(r"/home/[^/]*", absolute) is not None


def remove(path, recurse=False, ionice=False):
    """Remove the files matching the glob ``path`` (``rm -f``; ``rm -rf`` with recurse).

    Recursive removal of "/", "/home", a home directory or $HOME is refused.
    """
    if not path:
        return
    names = glob.glob(path)
    if recurse:
        for name in names:
            if _refuse_dangerous(name):
                raise Exception('bb.utils.remove: called with dangerous path "%s" and recurse=True, '
                                'refusing to delete!' % name)
        if names:
            cmd = (["ionice", "-c", "3"] if ionice else []) + ["rm", "-rf", "--"] + names
            subprocess.check_call(cmd)
        return
    for name in names:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def prunedir(topdir, ionice=False):
    """Remove ``topdir`` and everything below it (refusing dangerous paths)."""
    if _refuse_dangerous(topdir):
        raise Exception('bb.utils.prunedir: called with dangerous path "%s", refusing to delete!' % topdir)
    remove(topdir, recurse=True, ionice=ionice)


def prune_suffix(var, suffixes, d):
    """Strip the first of ``suffixes`` that ``var`` ends with."""
    for suffix in suffixes:
        if suffix and var.endswith(suffix):
            return var[:-len(suffix)]
    return var


def rename(src, dst):
    """``os.rename`` that falls back to a move across file systems."""
    try:
        os.rename(src, dst)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        shutil.move(src, dst)


def _lstat_or_parent(dest):
    """(stat of dest, True) or (stat of its directory, False) when dest is absent."""
    try:
        return os.lstat(dest), True
    except OSError:
        return os.lstat(os.path.dirname(dest) or "."), False


def _restore_metadata(path, sstat, newmtime):
    os.lchown(path, sstat.st_uid, sstat.st_gid)
    os.chmod(path, stat.S_IMODE(sstat.st_mode))
    if newmtime:
        os.utime(path, (newmtime, newmtime))
        return newmtime
    os.utime(path, (sstat.st_atime, sstat.st_mtime))
    return sstat.st_mtime


def copyfile(src, dest, newmtime=None, sstat=None):
    """Copy ``src`` to ``dest`` keeping mode, owner and times.

    Symbolic links are copied as links (returning the new link's stat).
    Otherwise returns the mtime given to the copy, or False on failure.
    """
    try:
        sstat = sstat or os.lstat(src)
    except OSError as exc:
        logger.warning("copyfile: stat of %s failed (%s)" % (src, exc))
        return False
    dstat, dest_exists = _lstat_or_parent(dest)
    if dest_exists and stat.S_ISLNK(dstat.st_mode):
        with contextlib.suppress(OSError):
            os.unlink(dest)
            dest_exists = False

    if stat.S_ISLNK(sstat.st_mode):
        target = None
        try:
            target = os.readlink(src)
            if dest_exists and not stat.S_ISDIR(dstat.st_mode):
                os.unlink(dest)
            os.symlink(target, dest)
            os.lchown(dest, sstat.st_uid, sstat.st_gid)
            return os.lstat(dest)
        except OSError as exc:
            logger.warning("copyfile: failed to create symlink %s to %s (%s)" % (dest, target, exc))
            return False

    if stat.S_ISREG(sstat.st_mode):
        made_readable = False
        try:
            if not os.access(src, os.R_OK):
                made_readable = True
                os.chmod(src, sstat.st_mode | stat.S_IRUSR)
            shutil.copyfile(src, dest + "#new")
            rename(dest + "#new", dest)
        except OSError as exc:
            logger.warning("copyfile: copy %s to %s failed (%s)" % (src, dest, exc))
            return False
        finally:
            if made_readable:
                os.chmod(src, sstat.st_mode)
                os.utime(src, (sstat.st_atime, sstat.st_mtime))
    else:
        result = subprocess.run(["cp", "-f", "--", src, dest], capture_output=True, text=True)
        if result.returncode != 0:
            logger.warning("copyfile: failed to copy special file %s to %s (%s)" % (src, dest, result.stderr))
            return False
    try:
        return _restore_metadata(dest, sstat, newmtime)
    except OSError as exc:
        logger.warning("copyfile: failed to chown/chmod %s (%s)" % (dest, exc))
        return False


def movefile(src, dest, newmtime=None, sstat=None):
    """Move ``src`` to ``dest`` (into it when it is a directory), keeping metadata.

    Symbolic links are recreated (returning the new link's stat); otherwise
    returns the mtime of the result, or None on failure.
    """
    try:
        sstat = sstat or os.lstat(src)
    except OSError as exc:
        logger.warning("movefile: Stating source file failed... %s" % exc)
        return None
    dstat, dest_exists = _lstat_or_parent(dest)
    if dest_exists and stat.S_ISLNK(dstat.st_mode):
        with contextlib.suppress(OSError):
            os.unlink(dest)
            dest_exists = False

    if stat.S_ISLNK(sstat.st_mode):
        target = None
        try:
            target = os.readlink(src)
            if dest_exists and not stat.S_ISDIR(dstat.st_mode):
                os.unlink(dest)
            os.symlink(target, dest)
            os.unlink(src)
            return os.lstat(dest)
        except OSError as exc:
            logger.warning("movefile: failed to properly create symlink: %s -> %s %s" % (dest, target, exc))
            return None

    destpath = os.path.join(dest, os.path.basename(src)) if os.path.isdir(dest) else dest
    moved = False
    if sstat.st_dev == dstat.st_dev:
        try:
            rename(src, destpath)
            moved = True
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                logger.warning("movefile: Failed to move %s to %s %s" % (src, dest, exc))
                return None
    if not moved:
        if stat.S_ISREG(sstat.st_mode):
            try:
                shutil.copyfile(src, destpath + "#new")
                rename(destpath + "#new", destpath)
                os.lchown(destpath, sstat.st_uid, sstat.st_gid)
                os.chmod(destpath, stat.S_IMODE(sstat.st_mode))
                os.unlink(src)
            except OSError as exc:
                logger.warning("movefile: copy %s -> %s failed. %s" % (src, dest, exc))
                return None
        else:
            result = subprocess.run(["mv", "-f", "--", src, dest], capture_output=True, text=True)
            if result.returncode != 0:
                logger.warning("movefile: Failed to move special file: %s to %s %s" % (src, dest, result.stderr))
                return None
    if newmtime:
        os.utime(destpath, (newmtime, newmtime))
        return newmtime
    os.utime(destpath, (sstat.st_atime, sstat.st_mtime))
    return sstat.st_mtime


def break_hardlinks(src, sstat=None):
    """Make ``src`` the only link to its contents (copying it over itself)."""
    try:
        sstat = sstat or os.lstat(src)
    except OSError as exc:
        logger.warning("break_hardlinks: stat of %s failed (%s)" % (src, exc))
        return False
    if sstat.st_nlink == 1:
        return True
    return copyfile(src, src, sstat=sstat)


def which(path, item, direction=0, history=False, executable=False):
    """Find ``item`` in the colon separated directory list ``path``.

    Returns the absolute path of the first candidate that exists (that is an
    executable file, with ``executable``), or "".  ``direction`` != 0 searches
    the list backwards.  With ``history`` returns ``(result, candidates)``.
    """
    directories = (path or "").split(":")
    if direction != 0:
        directories.reverse()
    tried = []
    for directory in directories:
        candidate = os.path.join(directory, item)
        tried.append(candidate)
        if executable:
            found = os.path.isfile(candidate) and os.access(candidate, os.X_OK)
        else:
            found = os.path.exists(candidate)
        if found:
            candidate = os.path.abspath(candidate)
            return (candidate, tried) if history else candidate
    return ("", tried) if history else ""


def to_filemode(value):
    """An int file mode from an int or an octal string."""
    if type(value) is int:
        return value
    return int(value, 8)


@contextlib.contextmanager
def umask(new_mask):
    """Context manager running its body with umask ``new_mask``."""
    previous = os.umask(new_mask)
    try:
        yield
    finally:
        os.umask(previous)


def lockfile(name, shared=False, retry=True, block=False):
    """Take a ``flock`` on the file ``name`` and return the open file.

    ``shared`` takes a shared lock.  Without ``retry`` and ``block`` a lock
    held elsewhere makes it return None at once.  The lock is only accepted
    when the locked file is still the one at ``name`` (another holder may
    have removed it while releasing).
    """
    basename = os.path.basename(name)
    if len(basename) > 255:
        root, ext = os.path.splitext(basename)
        basename = root[:255 - len(ext)] + ext
    dirname = os.path.dirname(name)
    mkdirhier(dirname)
    name = os.path.join(dirname, basename)
    if not os.access(dirname, os.W_OK):
        bb.fatal("Unable to acquire lock '%s', directory is not writable" % name)

    operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    if not retry and not block:
        operation |= fcntl.LOCK_NB
    while True:
        handle = None
        try:
            handle = open(name, "a+")
            fcntl.flock(handle.fileno(), operation)
            held = os.fstat(handle.fileno())
            if os.path.exists(name) and os.stat(name).st_ino == held.st_ino:
                return handle
            handle.close()
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.ENAMETOOLONG):
                bb.fatal("Unable to acquire lock '%s', %s" % (name, exc.strerror))
            if handle is not None:
                handle.close()
        if not retry:
            return None


def unlockfile(lf):
    """Release a lock from :func:`lockfile`, removing the file if possible."""
    try:
        # Only an exclusive holder may remove the file; try to become one.
        fcntl.flock(lf.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(lf.name)
    except OSError:
        pass
    fcntl.flock(lf.fileno(), fcntl.LOCK_UN)
    lf.close()


@contextlib.contextmanager
def fileslocked(files, *args, **kwargs):
    """Context manager holding :func:`lockfile` locks on all ``files``."""
    held = []
    for name in files or []:
        lock = lockfile(name, *args, **kwargs)
        if lock is not None:
            held.append(lock)
    try:
        yield
    finally:
        for lock in reversed(held):
            unlockfile(lock)


def _digest(hasher, filename):
    with open(filename, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def md5_file(filename):
    """Hex MD5 of the file's contents."""
    return _digest(hashlib.md5(usedforsecurity=False), filename)


def sha1_file(filename):
    """Hex SHA-1 of the file's contents."""
    return _digest(hashlib.sha1(), filename)


def sha256_file(filename):
    """Hex SHA-256 of the file's contents."""
    return _digest(hashlib.sha256(), filename)


def sha384_file(filename):
    """Hex SHA-384 of the file's contents."""
    return _digest(hashlib.sha384(), filename)


def sha512_file(filename):
    """Hex SHA-512 of the file's contents."""
    return _digest(hashlib.sha512(), filename)


def goh1_file(filename):
    """Go's "h1:" dirhash of a module zip (or of a go.mod file), in hex."""
    import zipfile
    lines = []
    if zipfile.is_zipfile(filename):
        try:
            with zipfile.ZipFile(filename) as archive:
                for member in sorted(archive.namelist()):
                    lines.append("%s  %s\n" % (hashlib.sha256(archive.read(member)).hexdigest(), member))
        except zipfile.BadZipFile:
            lines = []
    if not lines:
        lines.append("%s  go.mod\n" % sha256_file(filename))
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def mkstemp(suffix=None, prefix=None, dir=None, text=False):
    """``tempfile.mkstemp`` with extra randomness in the name."""
    entropy = "".join(random.choices(string.ascii_letters + string.digits, k=20))
    prefix = (prefix or tempfile.gettempprefix()) + entropy
    return tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=dir, text=text)


def path_is_descendant(descendant, ancestor):
    """Whether ``descendant`` is ``ancestor`` or below it (by inode identity)."""
    target = os.stat(ancestor)
    current = os.path.abspath(descendant).rstrip("/")
    while current:
        if os.path.samestat(os.stat(current), target):
            return True
        current = os.path.dirname(current).rstrip("/")
    return False


def is_path_on_nfs(path):
    """Whether ``path`` (or its closest existing parent) is on NFS."""
    if os.path.isabs(path):
        while not os.path.exists(path):
            path = os.path.dirname(path)
    import bb.process
    fstype = bb.process.run(["stat", "-f", "-c", "%T", path])[0].strip()
    return fstype == "nfs"
