"""Logging for metadata code, as BitBake's ``bb.msg`` sets it up.

BitBake routes every message through Python's ``logging`` under the
"BitBake" logger tree, with extra levels between the standard ones (plain,
verbnote, verbose, warnonce, erroronce and numbered debug levels).  Here the
same logger tree exists, and a handler on the "BitBake" logger hands each
record to rstore with ``_rstore.log(level, message)``, so ``bb.note``,
``bb.warn``, ``logger.warning`` in layer libraries and so on all reach the
recipe's log.
"""

import logging
import sys

import _rstore


class BBLogFormatter(logging.Formatter):
    """Formatter that knows BitBake's level numbers and names."""

    DEBUG3 = logging.DEBUG - 2
    DEBUG2 = logging.DEBUG - 1
    DEBUG = logging.DEBUG
    VERBOSE = logging.INFO - 1
    NOTE = logging.INFO
    PLAIN = logging.INFO + 1
    VERBNOTE = logging.INFO + 2
    ERROR = logging.ERROR
    ERRORONCE = logging.ERROR - 1
    WARNING = logging.WARNING
    WARNONCE = logging.WARNING - 1
    CRITICAL = logging.CRITICAL

    levelnames = {
        DEBUG3: "DEBUG",
        DEBUG2: "DEBUG",
        DEBUG: "DEBUG",
        VERBOSE: "NOTE",
        NOTE: "NOTE",
        PLAIN: "",
        VERBNOTE: "NOTE",
        WARNING: "WARNING",
        WARNONCE: "WARNING",
        ERROR: "ERROR",
        ERRORONCE: "ERROR",
        CRITICAL: "ERROR",
    }

    def getLevelName(self, levelno):
        return self.levelnames.get(levelno, logging.getLevelName(levelno))

    def format(self, record):
        record.levelname = self.getLevelName(record.levelno)
        if record.levelno == self.PLAIN:
            return record.getMessage()
        return super().format(record)


F = BBLogFormatter

loggerDefaultLogLevel = F.NOTE
loggerDefaultDomains = {}


def rstore_level(levelno):
    """Map a logging level number to the level names ``_rstore.log`` takes."""
    if levelno >= F.CRITICAL:
        return "fatal"
    if levelno >= F.ERRORONCE:
        return "error"
    if levelno >= F.WARNONCE:
        return "warn"
    if levelno >= F.VERBNOTE:
        return "verbnote"
    if levelno >= F.PLAIN:
        return "plain"
    if levelno >= F.NOTE:
        return "note"
    return "debug"


class RstoreHandler(logging.Handler):
    """Send log records to rstore; "once" levels are sent once per message."""

    def __init__(self):
        super().__init__(logging.NOTSET)
        self._seen_once = set()

    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception as exc:  # a bad format string must not hide the message
            message = "%s (formatting failed: %s)" % (record.msg, exc)
        if record.exc_info:
            import traceback
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.levelno in (F.WARNONCE, F.ERRORONCE):
            key = (record.levelno, message)
            if key in self._seen_once:
                return
            self._seen_once.add(key)
        _rstore.log(rstore_level(record.levelno), message)


class BBLogger(logging.Logger):
    """Logger with BitBake's extra methods (plain, verbnote, bbdebug, ...)."""

    def bbdebug(self, level, msg, *args, **kwargs):
        if not isinstance(level, int) or not isinstance(msg, str):
            logging.getLogger("BitBake.Main").warning(
                "Invalid arguments in bbdebug: %s" % repr((level, msg) + args))
            level = 1 if not isinstance(level, int) else level
        return self.log(logging.DEBUG - level + 1, msg, *args, **kwargs)

    def debug2(self, msg, *args, **kwargs):
        return self.bbdebug(2, msg, *args, **kwargs)

    def debug3(self, msg, *args, **kwargs):
        return self.bbdebug(3, msg, *args, **kwargs)

    def plain(self, msg, *args, **kwargs):
        return self.log(F.PLAIN, msg, *args, **kwargs)

    def verbose(self, msg, *args, **kwargs):
        return self.log(F.VERBOSE, msg, *args, **kwargs)

    def verbnote(self, msg, *args, **kwargs):
        return self.log(F.VERBNOTE, msg, *args, **kwargs)

    def warnonce(self, msg, *args, **kwargs):
        return self.log(F.WARNONCE, msg, *args, **kwargs)

    def erroronce(self, msg, *args, **kwargs):
        return self.log(F.ERRORONCE, msg, *args, **kwargs)


def _install():
    logging.raiseExceptions = False
    logging.setLoggerClass(BBLogger)
    for level, name in ((F.PLAIN, "PLAIN"), (F.VERBNOTE, "VERBNOTE"), (F.VERBOSE, "VERBOSE"),
                        (F.WARNONCE, "WARNONCE"), (F.ERRORONCE, "ERRORONCE")):
        logging.addLevelName(level, name)
    root = logging.getLogger("BitBake")
    if not isinstance(root, BBLogger):
        # Created before this module was imported: give it the methods anyway.
        root.__class__ = BBLogger
    for handler in list(root.handlers):
        if isinstance(handler, RstoreHandler):
            root.removeHandler(handler)
    root.addHandler(RstoreHandler())
    root.setLevel(1)
    root.propagate = False


_install()
handler = next(h for h in logging.getLogger("BitBake").handlers if isinstance(h, RstoreHandler))


def _domain_logger(msgdomain):
    if msgdomain:
        return logging.getLogger("BitBake.%s" % msgdomain)
    return logging.getLogger("BitBake")


def fatal(msgdomain, msg):
    """Log ``msg`` at fatal level in ``msgdomain`` and stop.

    BitBake exits the process here; inside rstore the interpreter belongs to
    the importer, so this raises BBHandledException like ``bb.fatal``.
    """
    import bb
    _domain_logger(msgdomain).critical(msg)
    raise bb.BBHandledException()


def warn(msgdomain, msg):
    """Log ``msg`` as a warning in ``msgdomain``."""
    _domain_logger(msgdomain).warning(msg)


def note(msgdomain, msg):
    """Log ``msg`` as a note in ``msgdomain``."""
    _domain_logger(msgdomain).info(msg)


def stringToLevel(level):
    """Turn a level name (or number as text) into a level number."""
    try:
        return int(level)
    except ValueError:
        pass
    name = str(level).upper()
    if hasattr(F, name):
        return getattr(F, name)
    raise ValueError("Unknown log level %r" % level)


def constructLogOptions():
    """Return the default log level and per-domain debug levels."""
    return loggerDefaultLogLevel, loggerDefaultDomains


def logger_create(name, output=sys.stderr, level=logging.INFO, preserve_handlers=False, color="auto"):
    """Create a logger writing formatted records to ``output``."""
    log = logging.getLogger(name)
    if not preserve_handlers:
        log.handlers = []
    stream = logging.StreamHandler(output)
    stream.setFormatter(BBLogFormatter("%(levelname)s: %(message)s"))
    log.addHandler(stream)
    log.setLevel(level)
    return log
