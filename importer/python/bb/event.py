"""Events and event handlers (BitBake's ``bb.event``).

Metadata registers handlers with ``addhandler`` and an optional
``[eventmask]`` of fully qualified event class names; the importer calls
:func:`register` for them and :func:`fire` at the points where BitBake fires
its events (``ConfigParsed``, ``RecipePreFinalise``, ``RecipeParsed``, ...).
A handler runs when the event's exact class name is in its mask (or it has
no mask) and, when a datastore is given, when the handler is listed in that
datastore's ``__BBHANDLERS_MC``.  During the call ``e.data`` is the datastore.
"""

import ast
import collections
import logging
import sys
import threading

import bb
import bb.utils

logger = logging.getLogger("BitBake.Event")

# Set in task workers in BitBake; always 0 here.
worker_pid = 0
worker_fire = None

Registered = 10
AlreadyRegistered = 14

_handlers = collections.OrderedDict()
# name -> the event class names the handler wants, or None for every event.
# Kept beside the handler table so that restoring a saved table (set_handlers)
# keeps each handler's mask, and a name registered again gets its new mask.
_masks = {}
_eventfilter = None
_should_exit = threading.Event()


class Event:
    """Base class of every event."""

    def __init__(self):
        self.pid = worker_pid


def _event_name(event):
    cls = type(event)
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def get_class_handlers():
    """The registered handlers, name -> callable."""
    return _handlers


def set_class_handlers(handlers):
    """Replace the registered handlers."""
    global _handlers
    _handlers = handlers


def clean_class_handlers():
    """An empty handler table (for :func:`set_class_handlers`)."""
    return collections.OrderedDict()


get_handlers = get_class_handlers
set_handlers = set_class_handlers


def set_eventfilter(func):
    """Install ``func(name, handler, event, d)`` deciding whether a handler runs."""
    global _eventfilter
    _eventfilter = func


def enable_threadlock():
    """Kept for compatibility; nothing to do."""


def disable_threadlock():
    """Kept for compatibility; nothing to do."""


def enable_heartbeat():
    """Kept for compatibility; rstore fires no heartbeat during parsing."""


def disable_heartbeat():
    """Kept for compatibility; rstore fires no heartbeat during parsing."""


def request_exit():
    """Make the next :func:`check_for_interrupts` stop the work."""
    _should_exit.set()


def check_for_interrupts():
    """Raise BBHandledException if an interruption was requested."""
    if _should_exit.is_set():
        bb.warn("Exiting due to interrupt.")
        raise bb.BBHandledException()


def getName(e):
    """The class name of an event class or instance."""
    name = getattr(e, "__name__", None)
    return name if name is not None else type(e).__name__


def _handler_names(d):
    if d is None:
        return None
    names = d.getVar("__BBHANDLERS_MC", False)
    return set(names) if names else set()


def execute_handler(name, handler, event, d):
    """Call ``handler(event, d)`` with ``event.data`` set to ``d`` for the call."""
    event.data = d
    try:
        return handler(event, d)
    except (bb.parse.SkipRecipe, bb.BBHandledException):
        raise
    except SystemExit as exc:
        if exc.code != 0:
            logger.error("Execution of event handler '%s' failed" % name)
        raise
    except Exception:
        exc_type, value, tb = sys.exc_info()
        logger.error("Execution of event handler '%s' failed" % name,
                     exc_info=(exc_type, value, tb.tb_next))
        raise
    finally:
        del event.data


def fire_class_handlers(event, d):
    """Run every handler registered for ``event``'s class."""
    if isinstance(event, logging.LogRecord):
        return
    event_name = _event_name(event)
    allowed = _handler_names(d)
    for name, handler in list(_handlers.items()):
        mask = _masks.get(name)
        if mask is not None and event_name not in mask:
            continue
        if _eventfilter and not _eventfilter(name, handler, event, d):
            continue
        if allowed is not None and name not in allowed:
            continue
        execute_handler(name, handler, event, d)


def fire(event, d):
    """Fire ``event`` at the class handlers, with datastore ``d``."""
    fire_class_handlers(event, d)


def fire_from_worker(event, d):
    """Compatibility alias of :func:`fire`."""
    fire(event, d)


def _mc_name(name, data):
    if data is not None:
        mc = data.getVar("BB_CURRENT_MC")
        if mc:
            return "%s%s" % (mc.replace("-", "_"), name)
    return name


def _remember(name, data):
    if data is None:
        return
    names = _handler_names(data)
    names.add(name)
    data.setVar("__BBHANDLERS_MC", names)


def _compile_handler(name, body, filename, lineno):
    """Turn a handler body into the function ``name(e, d)``.

    Blank lines are put in front so line numbers in tracebacks are the
    metadata file's.
    """
    import bb.methodpool
    source = "def %s(e, d):\n%s" % (name, body)
    if lineno is not None:
        source = "\n" * (lineno - 1) + source
    code = bb.methodpool.compile_cache(source)
    if not code:
        code = compile(source, filename or "%s(e, d)" % name, "exec", ast.PyCF_ONLY_AST)
        code = compile(code, filename or "%s(e, d)" % name, "exec")
        bb.methodpool.compile_cache_add(source, code)
    namespace = {}
    bb.utils.better_exec(code, namespace)
    return bb.utils.better_eval(name, namespace)


def _noop(*_args):
    return None


def register(name, handler, mask=None, filename=None, lineno=None, data=None):
    """Register ``handler`` under ``name`` for the event classes in ``mask``.

    ``handler`` is a callable or the Python body of ``def name(e, d):``.
    ``mask`` holds fully qualified class names ("bb.event.ConfigParsed");
    empty or containing "*" means every event.  Returns ``Registered``,
    ``AlreadyRegistered`` (the name was known: it is only added to the
    datastore's handler list), or None when the body does not compile.
    """
    name = _mc_name(name, data)
    if name in _handlers:
        _remember(name, data)
        return AlreadyRegistered
    if handler is None:
        return None
    if isinstance(handler, str):
        try:
            handler = _compile_handler(name, handler, filename, lineno)
        except SyntaxError:
            import traceback
            logger.error("Unable to register event handler '%s':\n%s", name,
                         "".join(traceback.format_exc(limit=0)))
            _handlers[name] = _noop
            return None
    _handlers[name] = handler
    _masks[name] = None if not mask or "*" in mask else frozenset(mask)
    _remember(name, data)
    return Registered


def remove(name, handler, data=None):
    """Unregister the handler ``name``."""
    name = _mc_name(name, data)
    _handlers.pop(name, None)
    _masks.pop(name, None)
    if data is not None:
        names = _handler_names(data)
        if name in names:
            names.discard(name)
            data.setVar("__BBHANDLERS_MC", names)


def register_UIHhandler(handler, mainui=False):
    """rstore has no UI handlers; messages go to the recipe log instead."""
    return None


def unregister_UIHhandler(handlerNum, mainui=False):
    """rstore has no UI handlers."""
    return None


def get_uihandler():
    """rstore has no UI handlers."""
    return None


class LogHandler(logging.Handler):
    """Handler that fires log records as events (they reach no class handler)."""

    def emit(self, record):
        fire(record, None)


# --- event classes -------------------------------------------------------

class HeartbeatEvent(Event):
    """Fired at regular intervals with the current time."""

    def __init__(self, time):
        super().__init__()
        self.time = time


class OperationStarted(Event):
    """An operation has begun."""

    def __init__(self, msg="Operation Started"):
        super().__init__()
        self.msg = msg


class OperationCompleted(Event):
    """An operation has completed."""

    def __init__(self, total, msg="Operation Completed"):
        super().__init__()
        self.total = total
        self.msg = msg


class OperationProgress(Event):
    """An operation is in progress."""

    def __init__(self, current, total, msg="Operation in Progress"):
        super().__init__()
        self.current = current
        self.total = total
        self.msg = "%s: %s/%s" % (msg, current, total)


class ConfigParsed(Event):
    """The configuration has been parsed."""


class MultiConfigParsed(Event):
    """Every multiconfig's configuration has been parsed."""

    def __init__(self, mcdata):
        self.mcdata = mcdata
        super().__init__()


class RecipeEvent(Event):
    """Base of events about one recipe file."""

    def __init__(self, fn):
        self.fn = fn
        super().__init__()


class RecipePreDeferredInherits(RecipeEvent):
    """Before deferred inherits are processed; ``inherits`` lists them (unexpanded)."""

    def __init__(self, fn, inherits):
        super().__init__(fn)
        self.inherits = inherits


class RecipePreFinalise(RecipeEvent):
    """The recipe is parsed but not yet finalised."""


class RecipePostKeyExpansion(RecipeEvent):
    """Variable names containing ``${...}`` have been expanded."""


class RecipeTaskPreProcess(RecipeEvent):
    """The task list is final; handlers may still change dependencies."""

    def __init__(self, fn, tasklist):
        super().__init__(fn)
        self.tasklist = tasklist


class RecipeParsed(RecipeEvent):
    """The recipe has been parsed and finalised."""


class BuildBase(Event):
    """Base of build events: a name, the targets and a failure count."""

    def __init__(self, n, p, failures=0):
        self._name = n
        self._pkgs = p
        super().__init__()
        self._failures = failures

    def getPkgs(self):
        return self._pkgs

    def setPkgs(self, pkgs):
        self._pkgs = pkgs

    def getName(self):
        return self._name

    def setName(self, name):
        self._name = name

    def getFailures(self):
        """Number of failed packages."""
        return self._failures

    pkgs = property(getPkgs, setPkgs, None, "the build's targets")
    name = property(getName, setName, None, "the build's name")


class BuildInit(BuildBase):
    """A build was requested."""

    def __init__(self, p=[]):
        BuildBase.__init__(self, None, p)


class BuildStarted(BuildBase, OperationStarted):
    """A build starts."""

    def __init__(self, n, p, failures=0):
        OperationStarted.__init__(self, "Building Started")
        BuildBase.__init__(self, n, p, failures)


class BuildCompleted(BuildBase, OperationCompleted):
    """A build has finished."""

    def __init__(self, total, n, p, failures=0, interrupted=0):
        OperationCompleted.__init__(self, total, "Building Failed" if failures else "Building Succeeded")
        self._interrupted = interrupted
        BuildBase.__init__(self, n, p, failures)


class DiskFull(Event):
    """The build was halted because a disk is full."""

    def __init__(self, dev, type, freespace, mountpoint):
        super().__init__()
        self._dev = dev
        self._type = type
        self._free = freespace
        self._mountpoint = mountpoint


class DiskUsageSample:
    """Available, free and total bytes of one monitored volume."""

    def __init__(self, available_bytes, free_bytes, total_bytes):
        self.available_bytes = available_bytes
        self.free_bytes = free_bytes
        self.total_bytes = total_bytes


class MonitorDiskEvent(Event):
    """Disk usage of the monitored directories."""

    def __init__(self, disk_usage):
        super().__init__()
        self.disk_usage = disk_usage


class NoProvider(Event):
    """Nothing provides a wanted item."""

    def __init__(self, item, runtime=False, dependees=None, reasons=None, close_matches=None):
        super().__init__()
        self._item = item
        self._runtime = runtime
        self._dependees = dependees
        self._reasons = reasons
        self._close_matches = close_matches

    def getItem(self):
        return self._item

    def isRuntime(self):
        return self._runtime

    def __str__(self):
        r = "R" if self._runtime else ""
        extra = ""
        if not self._reasons and self._close_matches:
            extra = ". Close matches:\n  %s" % "\n  ".join(sorted(set(self._close_matches)))
        if self._dependees:
            msg = "Nothing %sPROVIDES '%s' (but %s %sDEPENDS on or otherwise requires it)%s" % (
                r, self._item, ", ".join(self._dependees), r, extra)
        else:
            msg = "Nothing %sPROVIDES '%s'%s" % (r, self._item, extra)
        for reason in self._reasons or []:
            msg += "\n" + reason
        return msg


class MultipleProviders(Event):
    """Several recipes provide the same item."""

    def __init__(self, item, candidates, runtime=False):
        super().__init__()
        self._item = item
        self._candidates = candidates
        self._is_runtime = runtime

    def isRuntime(self):
        return self._is_runtime

    def getItem(self):
        return self._item

    def getCandidates(self):
        return self._candidates

    def __str__(self):
        r = "R" if self._is_runtime else ""
        return ("Multiple providers are available for %s%s (%s)\n"
                "Consider defining a PREFERRED_%sPROVIDER entry to match %s" % (
                    "runtime " if self._is_runtime else "", self._item, ", ".join(self._candidates),
                    r, self._item))


class ParseStarted(OperationStarted):
    """Recipe parsing has begun."""

    def __init__(self, total):
        super().__init__("Recipe parsing Started")
        self.total = total


class ParseCompleted(OperationCompleted):
    """Recipe parsing has completed."""

    def __init__(self, cached, parsed, skipped, masked, virtuals, errors, total):
        super().__init__(total, "Recipe parsing Completed")
        self.cached = cached
        self.parsed = parsed
        self.skipped = skipped
        self.virtuals = virtuals
        self.masked = masked
        self.errors = errors
        self.sofar = cached + parsed


class ParseProgress(OperationProgress):
    """Recipe parsing progress."""

    def __init__(self, current, total):
        super().__init__(current, total, "Recipe parsing")


class CacheLoadStarted(OperationStarted):
    """Loading of the parse cache has begun."""

    def __init__(self, total):
        super().__init__("Loading cache Started")
        self.total = total


class CacheLoadProgress(OperationProgress):
    """Cache loading progress."""

    def __init__(self, current, total):
        super().__init__(current, total, "Loading cache")


class CacheLoadCompleted(OperationCompleted):
    """Loading of the parse cache is complete."""

    def __init__(self, total, num_entries):
        super().__init__(total, "Loading cache Completed")
        self.num_entries = num_entries


class TreeDataPreparationStarted(OperationStarted):
    """Task graph preparation started."""

    def __init__(self):
        super().__init__("Preparing tree data Started")


class TreeDataPreparationProgress(OperationProgress):
    """Task graph preparation progress."""

    def __init__(self, current, total):
        super().__init__(current, total, "Preparing tree data")


class TreeDataPreparationCompleted(OperationCompleted):
    """Task graph preparation completed."""

    def __init__(self, total):
        super().__init__(total, "Preparing tree data Completed")


class DepTreeGenerated(Event):
    """A dependency tree was generated."""

    def __init__(self, depgraph):
        super().__init__()
        self._depgraph = depgraph


class TargetsTreeGenerated(Event):
    """The set of buildable targets was generated."""

    def __init__(self, model):
        super().__init__()
        self._model = model


class ReachableStamps(Event):
    """The stamps reachable after parsing."""

    def __init__(self, stamps):
        super().__init__()
        self.stamps = stamps


class StaleSetSceneTasks(Event):
    """Setscene tasks that will rerun, with their stale stamps."""

    def __init__(self, tasks):
        super().__init__()
        self.tasks = tasks


class FilesMatchingFound(Event):
    """Files matching a pattern were found."""

    def __init__(self, pattern, matches):
        super().__init__()
        self._pattern = pattern
        self._matches = matches


class ConfigFilesFound(Event):
    """Configuration files were found for a variable."""

    def __init__(self, variable, values):
        super().__init__()
        self._variable = variable
        self._values = values


class ConfigFilePathFound(Event):
    """The path of a configuration file was found."""

    def __init__(self, path):
        super().__init__()
        self._path = path


class MsgBase(Event):
    """Base class of message events."""

    def __init__(self, msg):
        self._message = msg
        super().__init__()


class MsgDebug(MsgBase):
    """Debug message."""


class MsgNote(MsgBase):
    """Note message."""


class MsgWarn(MsgBase):
    """Warning message."""


class MsgError(MsgBase):
    """Error message."""


class MsgFatal(MsgBase):
    """Fatal message."""


class MsgPlain(MsgBase):
    """Plain message."""


class LogExecTTY(Event):
    """Ask the user interface to run a program on its terminal."""

    def __init__(self, msg, prog, sleep_delay, retries):
        super().__init__()
        self.msg = msg
        self.prog = prog
        self.sleep_delay = sleep_delay
        self.retries = retries


class MetadataEvent(Event):
    """Generic event metadata classes use to report information."""

    def __init__(self, eventtype, eventdata):
        super().__init__()
        self.type = eventtype
        self._localdata = eventdata


class ProcessStarted(Event):
    """A named process with ``total`` steps has started."""

    def __init__(self, processname, total):
        super().__init__()
        self.processname = processname
        self.total = total


class ProcessProgress(Event):
    """Progress of a named process."""

    def __init__(self, processname, progress):
        super().__init__()
        self.processname = processname
        self.progress = progress


class ProcessFinished(Event):
    """A named process has finished."""

    def __init__(self, processname):
        super().__init__()
        self.processname = processname


class SanityCheck(Event):
    """Run the sanity checks."""

    def __init__(self, generateevents=True):
        super().__init__()
        self.generateevents = generateevents


class SanityCheckPassed(Event):
    """The sanity checks passed."""


class SanityCheckFailed(Event):
    """The sanity checks failed."""

    def __init__(self, msg, network_error=False):
        super().__init__()
        self._msg = msg
        self._network_error = network_error


class NetworkTest(Event):
    """Run the network connectivity tests."""

    def __init__(self, generateevents=True):
        super().__init__()
        self.generateevents = generateevents


class NetworkTestPassed(Event):
    """The network tests passed."""


class NetworkTestFailed(Event):
    """The network tests failed."""


class FindSigInfoResult(Event):
    """Results of a signature-information search."""

    def __init__(self, result):
        super().__init__()
        self.result = result


class GetTaskSignatureResult(Event):
    """Results of a task-signature query."""

    def __init__(self, sig):
        super().__init__()
        self.sig = sig


class ParseError(Event):
    """Parsing failed."""

    def __init__(self, msg):
        super().__init__()
        self._msg = msg


class InvalidEvent(Event):
    """An event that could not be decoded."""

    def __init__(self, event):
        super().__init__()
        self.event = event
