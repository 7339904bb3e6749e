"""zstd streams through the ``zstd`` (or, with threads, ``pzstd``) program."""

import shutil

from bb.compress._pipe import PipeFile, open_wrap


def open(*args, **kwargs):
    """Like ``gzip.open`` for zstd; ``num_threads`` and ``compresslevel`` are accepted."""
    return open_wrap(ZstdFile, *args, **kwargs)


class ZstdFile(PipeFile):
    """A zstd-compressed file."""

    def __init__(self, *args, num_threads=1, compresslevel=3, **kwargs):
        self.num_threads = num_threads
        self.compresslevel = compresslevel
        super().__init__(*args, **kwargs)

    def _program(self):
        if self.num_threads > 1 and shutil.which("pzstd"):
            return ["pzstd", "-p", str(self.num_threads)]
        return ["zstd"]

    def get_compress(self):
        return self._program() + ["-c", "-%d" % self.compresslevel]

    def get_decompress(self):
        return self._program() + ["-d", "-c"]
