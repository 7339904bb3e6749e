"""Streaming compression through external programs (BitBake's ``bb.compress``).

``bb.compress.zstd.open`` and ``bb.compress.lz4.open`` work like
``gzip.open``: binary or text mode, reading or writing, with the data
passing through a ``zstd``/``pzstd`` or ``lz4`` process.
"""
