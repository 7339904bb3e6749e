"""Run one BitBake task the way bitbake-worker does, with the user's own BitBake.

rstore starts this in the task's sandbox as `python3 run_task.py REQUEST.json`. The
request names BitBake's `lib` directory, the build directory, the recipe (BitBake's file
name, `virtual:native:` first for a variant), the task, its taskhash and unihash, and
BB_TASKDEPDATA as rstore's graph gives it. This script:

A request with "mode": "prepare" does what the cooker does once before the first
task: it parses the configuration, fires BuildStarted in its context and saves BitBake's
code parser cache into ${TOPDIR}/cache, as the cooker leaves it for its workers.

1. parses the configuration with BitBake's own parser, as a worker does (once per
   process), with the extra configuration files the request names (rstore's settings:
   no signature handler of BitBake's own, no hash server);
2. sets what bitbake-worker sets before and after parsing the recipe (BB_WORKERCONTEXT,
   BB_TASKDEPDATA, BB_CURRENTTASK, BUILDNAME, DATE, TIME, BB_TASKHASH, BB_UNIHASH), the
   process environment (the exported variables, the task's [exports], the fakeroot
   environment or FAKEROOTNOENV) and the umask;
3. runs `bb.build.exec_task`: prefuncs, the task, postfuncs, with [dirs], [cleandirs],
   [lockfiles], ${T}/log.do_X and run.do_X, and the task events.

The exit status is the task's: 0 when it succeeded. Messages go to the task's log (as
in BitBake) and, at NOTE level and above, to standard error.
"""

import json
import logging
import os
import sys


def task_data_entries(bb, entries):
    """BB_TASKDEPDATA: tid -> what the runqueue of this BitBake builds: a bb.TaskData
    (2.8's last releases on), else a list with the fields of its release (2.0 to 2.4:
    seven, 2.6: hashfn added, 2.8 before the named tuple: taskhash_deps added)."""
    fields = getattr(getattr(bb, "TaskData", None), "_fields", None)
    order = ["pn", "taskname", "fn", "deps", "provides", "taskhash", "unihash", "hashfn", "taskhash_deps"]
    version = tuple(int(p) for p in bb.__version__.split(".")[:2])
    length = 9 if version >= (2, 7) else 8 if version >= (2, 5) else 7
    out = {}
    for e in entries:
        values = {
            "pn": e["pn"],
            "taskname": e["taskname"],
            "fn": e["fn"],
            "deps": set(e["deps"]),
            "provides": list(e["provides"]),
            "taskhash": e["taskhash"],
            "unihash": e["unihash"],
            "hashfn": e["hashfn"],
            "taskhash_deps": set(e["taskhash_deps"]),
        }
        if fields:
            out[e["tid"]] = bb.TaskData(**{k: values[k] for k in fields})
        else:
            out[e["tid"]] = [values[k] for k in order[:length]]
    return out


def in_own_pid(d, taskname, work):
    """Run work() in a process whose pid no other task of the recipe uses, and return
    its exit status.

    BitBake names files in the recipe's ${T}, which all its tasks share, after the
    process id (run.FUNC.PID, fifo.PID). Each task's sandbox is a fresh pid namespace
    in which this driver is always pid 2, so two tasks of one recipe running at once
    would write and execute the same run.FUNC.2 (ETXTBSY) and share fifo.2. The task
    runs in a child whose pid is the driver's next one plus the task's index in the
    recipe's task list: distinct among the recipe's tasks, the same on every run."""
    tasks = d.getVar("__BBTASKS", False) or []
    index = tasks.index(taskname) if taskname in tasks else len(tasks)
    for _ in range(index):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = work()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def use_bytecode_cache(prefix, roots):
    """Find the bytecode of modules under `roots` in `prefix`, where rstore compiled it.

    The checkout and the layers are read-only in the sandbox, so Python cannot keep
    bytecode beside their sources, and `sys.pycache_prefix` would send every module
    there, the standard library's too (whose bytecode is beside it). So only the lookup
    for modules under `roots` goes to `prefix`, laid out as `sys.pycache_prefix` lays it
    out. Python still checks each entry against its source's size and mtime."""
    try:
        import importlib._bootstrap_external as external
    except ImportError:
        return
    default = getattr(external, "cache_from_source", None)
    tag = sys.implementation.cache_tag
    if default is None or tag is None or sys.flags.optimize:
        return
    roots = tuple(r.rstrip("/") + "/" for r in roots)

    def cache_from_source(path, debug_override=None, *, optimization=None):
        if optimization in (None, "") and path.endswith(".py") and path.startswith(roots):
            return prefix + path[:-3] + "." + tag + ".pyc"
        return default(path, debug_override, optimization=optimization)

    external.cache_from_source = cache_from_source


def main():
    with open(sys.argv[1]) as f:
        req = json.load(f)
    if req.get("pycache_prefix"):
        use_bytecode_cache(req["pycache_prefix"], req["pycache_roots"])
    sys.path.insert(0, req["bitbake_lib"])
    import bb
    import bb.build
    import bb.codeparser
    import bb.cookerdata
    import bb.data
    import bb.event
    import bb.parse
    import bb.utils

    # Messages: what BitBake's UI would print, on standard error.
    logger = logging.getLogger("BitBake")
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    # Events have no cooker to go to: class handlers run, nothing is queued for a UI.
    bb.event.worker_fire = lambda event, d: None

    class Configuration:
        pass

    cfg = Configuration()
    cfg.prefile = []
    cfg.postfile = req.get("postfiles", [])
    cfg.tracking = False
    cfg.skip_fragments = False
    cfg.env = dict(os.environ)
    cfg.limited_deps = False
    os.chdir(req["topdir"])
    databuilder = bb.cookerdata.CookerDataBuilder(cfg, worker=True)
    databuilder.parseBaseConfiguration(worker=True)

    config = databuilder.mcdata[""]
    config.setVar("BUILDNAME", req["buildname"])
    config.setVar("DATE", req["date"])
    config.setVar("TIME", req["time"])
    if req.get("mode") == "prepare":
        # What the cooker does once before the first task, which rstore does once per
        # build in a sandbox of its own: BuildStarted, in the configuration's context
        # (its handlers write what tasks read later, such as the build's SPDX document,
        # into TMPDIR), and the code parser cache the parse filled (the layers' Python
        # libraries), saved into ${TOPDIR}/cache for the tasks to read.
        bb.event.fire(bb.event.BuildStarted(req["buildname"], req.get("targets", [])), config)
        bb.codeparser.parser_cache_save()
        bb.codeparser.parser_cache_savemerge()
        return 0

    fn = req["fn"]
    taskname = req["task"]
    realfn, virtual, mc = bb.cache.virtualfn2realfn(fn)
    config = databuilder.mcdata[mc]
    config.setVar("BB_WORKERCONTEXT", "1")
    config.setVar("BB_TASKDEPDATA", task_data_entries(bb, req["taskdepdata"]))
    config.setVar("BB_CURRENTTASK", taskname.replace("do_", ""))
    config.setVar("BUILDNAME", req["buildname"])
    config.setVar("DATE", req["date"])
    config.setVar("TIME", req["time"])

    if hasattr(databuilder, "parseRecipe"):
        d = databuilder.parseRecipe(fn, req.get("appends", []), req.get("layername"))
    else:
        # BitBake before 2.4: its worker parses through the cache module's NoCache.
        d = bb.cache.NoCache(databuilder).loadDataFull(fn, req.get("appends", []))
    d.setVar("BB_TASKHASH", req["taskhash"])
    d.setVar("BB_UNIHASH", req["unihash"])
    if hasattr(bb.parse.siggen, "setup_datacache_from_datastore"):
        bb.parse.siggen.setup_datacache_from_datastore(fn, d)
    # Before 2.4 the worker hands the signature generator the runqueue's hashes instead
    # (set_taskdata); tasks of these releases do not ask it for other tasks' hashes
    # outside sstate's functions, which rstore does not run.

    def run():
        # The umask: the task's [umask], else BB_DEFAULT_UMASK.
        umask = d.getVarFlag(taskname, "umask") or d.getVar("BB_DEFAULT_UMASK")
        if umask:
            os.umask(int(umask, 8))

        fakeroot = bool(d.getVarFlag(taskname, "fakeroot", False))
        fakeenv = {}
        for kv in (d.getVar("FAKEROOTENV" if fakeroot else "FAKEROOTNOENV") or "").split():
            k, _, v = kv.partition("=")
            fakeenv[k] = v
        if fakeroot:
            for p in (d.getVar("FAKEROOTDIRS") or "").split():
                bb.utils.mkdirhier(p)

        exports = list(bb.data.exported_vars(d))
        bb.utils.empty_environment()
        for k, v in exports:
            os.environ[k] = v
        for k, v in fakeenv.items():
            os.environ[k] = v
            d.setVar(k, v)
            d.setVarFlag(k, "export", "1")
        for k in (d.getVarFlag(taskname, "exports") or "").split():
            d.setVarFlag(k, "export", "1")
            v = d.getVar(k)
            if v is not None:
                os.environ[k] = v

        if req.get("build_started"):
            # What the cooker does before the first task, when rstore's preparation of the
            # build could not do it: the handlers of BuildStarted write what tasks read
            # later (the build's SPDX document).
            bb.event.fire(bb.event.BuildStarted(req["buildname"], []), config)

        sys.stdout.flush()
        sys.stderr.flush()
        return bb.build.exec_task(fn, taskname, d)

    return in_own_pid(d, taskname, run)


if __name__ == "__main__":
    sys.exit(main())
