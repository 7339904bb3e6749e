"""A file object whose data flows through a compressor or decompressor process."""

import builtins
import io
import os
import subprocess


class PipeFile(io.RawIOBase):
    """Raw binary stream backed by a (de)compressing child process.

    Reading runs the decompressor on the file and reads its output; writing
    feeds the compressor, whose output goes to the file.  Subclasses give
    the two command lines.
    """

    def __init__(self, filename=None, mode="rb", *, stderr=None, fileobj=None):
        super().__init__()
        mode = mode.replace("b", "")
        if mode not in ("r", "w", "x", "a"):
            raise ValueError("Invalid mode: %r" % mode)
        self.mode = mode
        self.name = filename
        self._owned = None
        if fileobj is None:
            fileobj = self._owned = builtins.open(filename, mode + "b")
        self._file = fileobj
        self._eof = False
        if mode == "r":
            self._proc = subprocess.Popen(self.get_decompress(), stdin=fileobj, stdout=subprocess.PIPE,
                                          stderr=stderr, close_fds=True)
            self._pipe = self._proc.stdout
        else:
            self._proc = subprocess.Popen(self.get_compress(), stdin=subprocess.PIPE, stdout=fileobj,
                                          stderr=stderr, close_fds=True)
            self._pipe = self._proc.stdin

    def get_compress(self):
        raise NotImplementedError("subclasses give the compressor command")

    def get_decompress(self):
        raise NotImplementedError("subclasses give the decompressor command")

    def readable(self):
        return self.mode == "r"

    def writable(self):
        return self.mode != "r"

    def readinto(self, buffer):
        data = self._pipe.read(len(buffer))
        if not data:
            self._eof = True
        buffer[:len(data)] = data
        return len(data)

    def write(self, data):
        self._pipe.write(data)
        return len(data)

    def close(self):
        if self.closed:
            return
        try:
            if self.mode == "r" and not self._eof and self._proc.poll() is None:
                # Closed before the end: stop the decompressor, its status is moot.
                self._proc.terminate()
                self._pipe.close()
                self._proc.wait()
                return
            self._pipe.close()
            status = self._proc.wait()
            if status != 0:
                command = self.get_decompress() if self.mode == "r" else self.get_compress()
                raise OSError("%s exited with status %d" % (command[0], status))
        finally:
            if self._owned is not None:
                self._owned.close()
            super().close()


def open_wrap(cls, filename, mode="rb", *, encoding=None, errors=None, newline=None, **kwargs):
    """Open ``filename`` (a path or a file object) through ``cls`` like ``gzip.open``."""
    text = "t" in mode
    if text and "b" in mode:
        raise ValueError("Invalid mode: %r" % (mode,))
    if not text and (encoding is not None or errors is not None or newline is not None):
        raise ValueError("encoding, errors and newline are only for text mode")
    raw_mode = mode.replace("t", "")
    if isinstance(filename, (str, bytes, os.PathLike)):
        raw = cls(filename, raw_mode, **kwargs)
    elif hasattr(filename, "read") or hasattr(filename, "write"):
        raw = cls(None, raw_mode, fileobj=filename, **kwargs)
    else:
        raise TypeError("filename must be a str or bytes object, or a file")
    buffered = io.BufferedReader(raw) if raw.readable() else io.BufferedWriter(raw)
    if text:
        return io.TextIOWrapper(buffered, encoding, errors, newline)
    return buffered
