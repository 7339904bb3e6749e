"""Run one BitBake task the way bitbake-worker does, with the user's own BitBake.

rstore starts this in the task's sandbox as `python3 run_task.py REQUEST.json`. The
request names BitBake's `lib` directory, the build directory, the recipe (BitBake's file
name, `virtual:native:` first for a variant), the task, its taskhash and unihash, and
BB_TASKDEPDATA as rstore's graph gives it. This script:

A request with "event" instead of a task fires that build-level event (BuildStarted)
in the configuration's context, as the cooker does before the first task.

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
    """BB_TASKDEPDATA: tid -> bb.TaskData, as the runqueue builds it."""
    out = {}
    for e in entries:
        out[e["tid"]] = bb.TaskData(
            pn=e["pn"],
            taskname=e["taskname"],
            fn=e["fn"],
            deps=set(e["deps"]),
            provides=list(e["provides"]),
            taskhash=e["taskhash"],
            unihash=e["unihash"],
            hashfn=e["hashfn"],
            taskhash_deps=set(e["taskhash_deps"]),
        )
    return out


def main():
    with open(sys.argv[1]) as f:
        req = json.load(f)
    sys.path.insert(0, req["bitbake_lib"])
    import bb
    import bb.build
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
    if "event" in req:
        # A build-level event, fired in the configuration's context as the cooker fires
        # it, for the handlers that write what tasks read later (BuildStarted: the
        # build's SPDX document, buildstats).
        if req["event"] != "BuildStarted":
            raise SystemExit("run_task.py: unknown event %r" % req["event"])
        bb.event.fire(bb.event.BuildStarted(req["buildname"], req.get("targets", [])), config)
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

    d = databuilder.parseRecipe(fn, req.get("appends", []), req.get("layername"))
    d.setVar("BB_TASKHASH", req["taskhash"])
    d.setVar("BB_UNIHASH", req["unihash"])
    bb.parse.siggen.setup_datacache_from_datastore(fn, d)

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
        # What the cooker does before the first task: the handlers of BuildStarted write
        # what tasks read later (the build's SPDX document).
        bb.event.fire(bb.event.BuildStarted(req["buildname"], []), config)

    sys.stdout.flush()
    sys.stderr.flush()
    return bb.build.exec_task(fn, taskname, d)


if __name__ == "__main__":
    sys.exit(main())
