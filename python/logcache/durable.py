"""``logcache.DurableKVCache``: the seed design's class (``put``/``get``/``delete``), over the
engine: an append-only log replayed on open, compacted after ``compaction_threshold``
records, each ``put`` returned once durable (``durability="sync"``).

Keys and values are kept as ``Cache`` keeps them (str, bytes, int and float natively, other
values pickled), so ``get`` returns what ``put`` was given.
"""

from .cache import Cache


class DurableKVCache:
    """``DurableKVCache(storage_path, compaction_threshold=..., durability="sync")``:
    ``storage_path`` is the log file (created if absent; its folder too)."""

    def __init__(self, storage_path, compaction_threshold=None, durability="sync", **options):
        import os

        path = os.fspath(storage_path)
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self._cache = Cache(
            path,
            _is_log=True,
            eviction_policy="none",
            durability=durability,
            compaction_threshold=compaction_threshold,
            **options,
        )
        self.storage_path = path

    def put(self, key, value):
        """Sets ``key`` to ``value``; returns once durable."""
        self._cache.set(key, value)

    def get(self, key):
        """The value of ``key``, or None."""
        return self._cache.get(key)

    def delete(self, key):
        """Removes ``key``; returns whether it had a value."""
        return self._cache.delete(key)

    def __len__(self):
        return len(self._cache)

    def __contains__(self, key):
        return key in self._cache

    def close(self):
        """Closes the log (the next open reads the hint file instead of replaying it)."""
        self._cache.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

