"""lz4 streams through the ``lz4`` program."""

from bb.compress._pipe import PipeFile, open_wrap


def open(*args, **kwargs):
    """Like ``gzip.open`` for lz4."""
    return open_wrap(LZ4File, *args, **kwargs)


class LZ4File(PipeFile):
    """An lz4-compressed file."""

    def get_compress(self):
        return ["lz4", "-z", "-c"]

    def get_decompress(self):
        return ["lz4", "-d", "-c"]
