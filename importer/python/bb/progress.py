"""Task progress reporting (BitBake's ``bb.progress``).

Progress handlers watch a task's output (they are file-like objects) and
fire ``bb.build.TaskProgress`` events with a percentage.
"""

import re
import time

import bb.event
import bb.build


class ProgressHandler:
    """Base handler: ``update(progress, rate)`` fires a TaskProgress event (rate-limited)."""

    def __init__(self, d, outfile=None):
        self._data = d
        self._outfile = outfile
        self._progress = None
        self._rate = None
        self._last = 0.0

    def __enter__(self):
        self._fire_progress(0)
        return self

    def __exit__(self, *excinfo):
        self._fire_progress(100)

    def write(self, string):
        if self._outfile:
            self._outfile.write(string)

    def flush(self):
        if self._outfile:
            self._outfile.flush()

    def _fire_progress(self, progress, rate=None):
        bb.event.fire(bb.build.TaskProgress(progress, rate), self._data)

    def update(self, progress, rate=None):
        now = time.time()
        if progress > 100:
            progress = 100
        if progress != self._progress or rate != self._rate:
            if now - self._last >= 1 or progress in (0, 100):
                self._fire_progress(progress, rate)
                self._last = now
            self._progress = progress
            self._rate = rate


class LineFilterProgressHandler(ProgressHandler):
    """Calls ``writeline`` for every complete line of output; returning False hides the line."""

    def __init__(self, d, outfile=None):
        self._linebuffer = ""
        super().__init__(d, outfile)

    def write(self, string):
        self._linebuffer += string
        while "\n" in self._linebuffer or "\r" in self._linebuffer:
            cut = min(i for i in (self._linebuffer.find("\n"), self._linebuffer.find("\r")) if i != -1) + 1
            line, self._linebuffer = self._linebuffer[:cut], self._linebuffer[cut:]
            if self.writeline(line) is not False:
                super().write(line)

    def writeline(self, line):
        return True


class BasicProgressHandler(ProgressHandler):
    """Takes the last "NN%" written (or what ``regex`` captures) as the progress."""

    def __init__(self, d, regex=r"(\d+)%", outfile=None):
        super().__init__(d, outfile)
        self._regex = re.compile(regex)

    def write(self, string):
        found = self._regex.findall(string)
        if found:
            self.update(int(found[-1]))
        super().write(string)


class OutOfProgressHandler(ProgressHandler):
    """Progress from "N of M"-style output: ``regex`` captures N and M."""

    def __init__(self, d, regex, outfile=None):
        super().__init__(d, outfile)
        self._regex = re.compile(regex)

    def write(self, string):
        found = self._regex.findall(string)
        if found:
            done, total = found[-1]
            self.update(float(done) / float(total) * 100)
        super().write(string)


class MultiStageProgressReporter:
    """Progress over several stages with relative weights; call ``next_stage`` between them."""

    def __init__(self, d, stage_weights, debug=False):
        self._data = d
        total = sum(stage_weights)
        self._weights = [w / total for w in stage_weights] if total else []
        self._stage = -1
        self._base = 0.0
        self._debug = debug
        self._last = None

    def __enter__(self):
        self.next_stage()
        return self

    def __exit__(self, *excinfo):
        self.finish()

    def _fire(self, progress):
        progress = int(progress)
        if progress != self._last:
            self._last = progress
            bb.event.fire(bb.build.TaskProgress(progress), self._data)

    def next_stage(self, stage_total=None):
        if self._stage >= 0:
            self._base += self._weights[self._stage] * 100
        self._stage += 1
        self._stage_total = stage_total
        self._fire(self._base)

    def update(self, stage_progress):
        if self._stage_total:
            stage_progress = float(stage_progress) / self._stage_total * 100
        weight = self._weights[self._stage] if 0 <= self._stage < len(self._weights) else 0
        self._fire(self._base + weight * min(stage_progress, 100))

    def finish(self):
        self._fire(100)


class MultiStageProcessProgressReporter(MultiStageProgressReporter):
    """The same for a named process: fires ProcessStarted/ProcessProgress/ProcessFinished."""

    def __init__(self, d, processname, stage_weights, debug=False):
        self._processname = processname
        super().__init__(d, stage_weights, debug)

    def __enter__(self):
        bb.event.fire(bb.event.ProcessStarted(self._processname, 100), self._data)
        return super().__enter__()

    def _fire(self, progress):
        progress = int(progress)
        if progress != self._last:
            self._last = progress
            bb.event.fire(bb.event.ProcessProgress(self._processname, progress), self._data)

    def finish(self):
        bb.event.fire(bb.event.ProcessFinished(self._processname), self._data)
