"""logcache for Python: a durable cache with python-diskcache's API.

``Cache(directory)`` is diskcache's ``Cache`` (``set``/``get``/``add``/``incr``/``pop``/
``memoize``/…) over logcache's engine: an append-only log with group commit, crash-tested,
each write acknowledged once durable. Every process that opens the same directory shares one
cache (the first serves it to the others on a Unix socket; the next takes over when it
exits). ``DurableKVCache(storage_path)`` is the seed design's ``put``/``get``/``delete``.
"""

from ._native import (
    CacheLocked,
    Corrupt,
    Error,
    HolderLost,
    Poisoned,
    ReadOnly,
    TooLarge,
)
from .cache import ENOVAL, EVICTION_POLICIES, Cache, ObjectReader, ObjectWriter
from .durable import DurableKVCache

__all__ = [
    "Cache",
    "CacheLocked",
    "Corrupt",
    "DurableKVCache",
    "ENOVAL",
    "EVICTION_POLICIES",
    "Error",
    "HolderLost",
    "ObjectReader",
    "ObjectWriter",
    "Poisoned",
    "ReadOnly",
    "TooLarge",
]
