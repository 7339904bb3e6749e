"""Signature generators (BitBake's ``bb.siggen``), as far as metadata needs them.

rstore computes task signatures itself (basehash, taskhash and unihash of
derivations, in the importer and evaluator).  This module provides the class
hierarchy that layers extend (openembedded-core's ``oe.sstatesig`` derives
``OEBasicHash`` and ``OEEquivHash`` from it and registers them here) with the
same constructors and configuration reading as BitBake, and :func:`init`,
which picks the generator named by ``BB_SIGNATURE_HANDLER``.  The hashing and
signature-file methods are those of BitBake's no-op generator.
"""

import hashlib
import logging
import re

import bb

logger = logging.getLogger("BitBake.SigGen")
hashequiv_logger = logging.getLogger("BitBake.SigGen.HashEquiv")

# Set by the metadata's signature code (oe.sstatesig) when it is imported.
find_siginfo = None
find_siginfo_version = None
find_siginfo_minversion = 2

HASHSERV_ENVVARS = ["SSL_CERT_DIR", "SSL_CERT_FILE", "NO_PROXY", "HTTPS_PROXY", "HTTP_PROXY"]


def check_siggen_version(siggen):
    """Stop if the metadata's signature code is older than this BitBake expects."""
    version = getattr(siggen, "find_siginfo_version", None)
    if version is None:
        bb.fatal("Siggen from metadata (OE-Core?) is too old, please update it (no version found)")
    if version < siggen.find_siginfo_minversion:
        bb.fatal("Siggen from metadata (OE-Core?) is too old, please update it (%s vs %s)"
                 % (version, siggen.find_siginfo_minversion))


def init(d):
    """An instance of the generator whose ``name`` is ``BB_SIGNATURE_HANDLER`` ("noop" by default)."""
    generators = [obj for obj in globals().values()
                  if isinstance(obj, type) and issubclass(obj, SignatureGenerator)]
    wanted = d.getVar("BB_SIGNATURE_HANDLER") or "noop"
    for generator in generators:
        if generator.name == wanted:
            return generator(d)
    logger.error("Invalid signature generator '%s', using default 'noop'\nAvailable generators: %s",
                 wanted, ", ".join(g.name for g in generators))
    return SignatureGenerator(d)


def build_pnid(mc, pn, taskname):
    """``[mc:MC:]PN:TASK``."""
    if mc:
        return "mc:%s:%s:%s" % (mc, pn, taskname)
    return "%s:%s" % (pn, taskname)


class SignatureGenerator:
    """The "noop" generator: a task's hash is the hash of its id."""

    name = "noop"

    def __init__(self, data):
        self.basehash = {}
        self.taskhash = {}
        self.unihash = {}
        self.runtaskdeps = {}
        self.file_checksum_values = {}
        self.taints = {}
        self.unitaskhashes = {}
        self.tidtopn = {}
        self.setscenetasks = set()

    def finalise(self, fn, d, variant):
        return

    def postparsing_clean_cache(self):
        return

    def setup_datacache(self, datacaches):
        self.datacaches = datacaches

    def get_cached_unihash(self, tid):
        return None

    def get_unihash(self, tid):
        return self.get_cached_unihash(tid) or self.taskhash[tid]

    def get_unihashes(self, tids):
        return {tid: self.get_unihash(tid) for tid in tids}

    def prep_taskhash(self, tid, deps, dataCaches):
        return

    def get_taskhash(self, tid, deps, dataCaches):
        self.taskhash[tid] = hashlib.sha256(tid.encode("utf-8")).hexdigest()
        return self.taskhash[tid]

    def writeout_file_checksum_cache(self):
        return

    def stampfile_base(self, mcfn):
        mc = bb.runqueue.mc_from_tid(mcfn)
        return self.datacaches[mc].stamp[mcfn]

    def stampfile(self, stampbase, file_name, taskname, extrainfo):
        return ("%s.%s.%s" % (stampbase, taskname, extrainfo)).rstrip(".")

    def stampcleanmask(self, stampbase, file_name, taskname, extrainfo):
        return ("%s.%s.%s" % (stampbase, taskname, extrainfo)).rstrip(".")

    def dump_sigtask(self, mcfn, task, stampbase, runtime):
        return

    def invalidate_task(self, task, mcfn):
        return

    def dump_sigs(self, dataCache, options):
        return

    def get_taskdata(self):
        return (self.runtaskdeps, self.taskhash, self.unihash, self.file_checksum_values,
                self.taints, self.basehash, self.unitaskhashes, self.tidtopn, self.setscenetasks)

    def set_taskdata(self, data):
        (self.runtaskdeps, self.taskhash, self.unihash, self.file_checksum_values, self.taints,
         self.basehash, self.unitaskhashes, self.tidtopn, self.setscenetasks) = data

    def reset(self, data):
        self.__init__(data)

    def get_taskhashes(self):
        return self.taskhash, self.unihash, self.unitaskhashes, self.tidtopn

    def set_taskhashes(self, hashes):
        self.taskhash, self.unihash, self.unitaskhashes, self.tidtopn = hashes

    def save_unitaskhashes(self):
        return

    def set_setscene_tasks(self, setscene_tasks):
        return

    def exit(self):
        return


class SignatureGeneratorBasic(SignatureGenerator):
    """The "basic" generator: reads the hash configuration of the metadata."""

    name = "basic"

    def __init__(self, data):
        super().__init__(data)
        self.basehash_ignore_vars = set((data.getVar("BB_BASEHASH_IGNORE_VARS") or "").split())
        self.taskhash_ignore_tasks = None
        self.init_rundepcheck(data)
        self.checksum_cache = None
        self.localdirsexclude = (data.getVar("BB_SIGNATURE_LOCAL_DIRS_EXCLUDE")
                                 or "CVS .bzr .git .hg .osc .p4 .repo .svn").split()

    def init_rundepcheck(self, data):
        self.taskhash_ignore_tasks = data.getVar("BB_TASKHASH_IGNORE_TASKS") or None
        self.twl = re.compile(self.taskhash_ignore_tasks) if self.taskhash_ignore_tasks else None

    def rundep_check(self, fn, recipename, task, dep, depname, dataCaches):
        """Whether the dependency ``dep`` enters ``task``'s signature."""
        if self.twl and not self.twl.search(recipename) and self.twl.search(depname):
            return False
        return True

    def read_taint(self, fn, task, stampbase):
        return None


class SignatureGeneratorBasicHash(SignatureGeneratorBasic):
    """The "basichash" generator: stamps carry the task hash."""

    name = "basichash"

    def get_stampfile_hash(self, tid):
        return self.taskhash.get(tid)


class SignatureGeneratorUniHashMixIn:
    """Hash-equivalence support: reads the server settings and its environment."""

    def __init__(self, data):
        self.extramethod = {}
        self.unihash_exists_cache = set()
        self.username = None
        self.password = None
        self.env = {}
        origenv = data.getVar("BB_ORIGENV")
        for name in HASHSERV_ENVVARS:
            value = data.getVar(name)
            if not value and origenv:
                value = origenv.getVar(name)
            if value:
                self.env[name] = value
        super().__init__(data)

    def get_hashserv_creds(self):
        if self.username and self.password:
            return {"username": self.username, "password": self.password}
        return {}

    def get_cached_unihash(self, tid):
        return self.unitaskhashes.get(tid)

    def set_unihash(self, tid, unihash):
        self.unitaskhashes[tid] = unihash


def dump_this_task(outfile, d):
    """Write the current task's signature data to ``outfile``."""
    import bb.parse
    mcfn = d.getVar("BB_FILENAME")
    task = "do_" + d.getVar("BB_CURRENTTASK")
    bb.parse.siggen.dump_sigtask(mcfn, task, outfile, "customfile")


def compare_sigfiles(a, b, recursecb=None, color=False, collapsed=False):
    """Comparing BitBake signature files is not available in rstore."""
    raise NotImplementedError("bb.siggen.compare_sigfiles: rstore keeps no BitBake signature files; "
                              "compare derivations with rstore's own tools")


def dump_sigfile(a):
    """Reading BitBake signature files is not available in rstore."""
    raise NotImplementedError("bb.siggen.dump_sigfile: rstore keeps no BitBake signature files")
