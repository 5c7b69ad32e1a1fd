"""``logcache.Cache``: python-diskcache's ``Cache`` API over logcache's engine.

Every process that opens the same directory shares one cache: the first holds the log and
serves it to the others over a Unix socket beside it (``cache.log.sock``); when it exits, the
next call of another process takes over. Every write returns once it is as durable as
``durability`` says (``"sync"``: on stable storage, fsyncs shared by concurrent writers).
"""

import contextlib
import fcntl
import io
import os
import tempfile
import threading
import time
import weakref

from . import _native
from ._codec import Codec, decode_key, encode_key
from .memo import memoize as _memoize

ENOVAL = object()

#: diskcache's eviction policy names, mapped to the engine's.
EVICTION_POLICIES = {
    "s3-fifo": "s3-fifo",
    "clock": "clock",
    "fifo": "fifo",
    "none": "none",
    "least-recently-stored": "fifo",
    "least-recently-used": "clock",
    "least-frequently-used": "s3-fifo",
}

_OPEN = weakref.WeakSet()


def _close_all():
    """At interpreter exit: close every open cache, so a holder hands its cache over to the
    other processes cleanly (each client's request in flight is answered first)."""
    for cache in list(_OPEN):
        try:
            cache.close()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass


import atexit  # noqa: E402

atexit.register(_close_all)


def _log_path(directory, is_log=False):
    """``(directory, log path)`` for ``Cache(directory_or_path)``."""
    path = os.fspath(directory)
    if is_log or path.endswith(".log") or os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path)) or ".", path
    os.makedirs(path, exist_ok=True)
    return path, os.path.join(path, "cache.log")


class Cache:
    """A durable cache with python-diskcache's API.

    ``directory``: a folder (created if absent; a temporary one when None) or the path of a
    ``.log`` file. ``size_limit``: bytes the cache keeps before it evicts (not with
    ``eviction_policy="none"``). ``eviction_policy``: ``"s3-fifo"`` (default), ``"clock"``,
    ``"fifo"``, ``"none"``, or a diskcache name. ``durability``: ``"sync"`` (default), ``"interval:50ms"``,
    ``"none"``. ``serializer``: what pickles values that are not bytes, str, int or float.
    ``timeout``: seconds an open waits for another process that holds the cache to answer.
    """

    def __init__(
        self,
        directory=None,
        timeout=60,
        disk=None,
        *,
        size_limit=2**30,
        eviction_policy="s3-fifo",
        durability="sync",
        serializer=None,
        compaction_threshold=None,
        _is_log=False,
        **settings,
    ):
        if directory is None:
            directory = tempfile.mkdtemp(prefix="logcache-")
        self._directory, self._log = _log_path(directory, _is_log)
        policy = EVICTION_POLICIES.get(eviction_policy)
        if policy is None:
            raise ValueError(
                f"eviction_policy {eviction_policy!r}: use one of {sorted(EVICTION_POLICIES)}"
            )
        self._settings = dict(settings)
        self._settings.update(size_limit=size_limit, eviction_policy=eviction_policy)
        self.durability = durability
        self.timeout = timeout
        self._codec = Codec(serializer, settings.get("disk_pickle_protocol", 5))
        self._store = _native.Store(
            self._log,
            durability=durability,
            size_limit=None if policy == "none" else size_limit,
            eviction=policy,
            compaction_threshold=compaction_threshold,
            timeout=float(timeout),
        )
        self._stats_on = bool(settings.get("statistics", False))
        self._stats_base = self._engine_stats() if self._stats_on else (0, 0)
        self._stats_frozen = (0, 0)
        self._transact = threading.RLock()
        self._transact_depth = 0
        self._transact_file = None
        _OPEN.add(self)

    # -- settings -------------------------------------------------------------------------

    def __getattr__(self, name):
        settings = self.__dict__.get("_settings", {})
        if name in settings:
            return settings[name]
        raise AttributeError(name)

    def reset(self, key, value=ENOVAL, update=True):
        """Reads (``value`` omitted) or sets a setting; returns its value. Settings the engine
        acts on (``size_limit``, ``eviction_policy``) take effect at the next open."""
        if value is ENOVAL:
            return self._settings.get(key)
        if key == "statistics":
            self.stats(enable=bool(value))
        self._settings[key] = value
        return value

    @property
    def directory(self):
        """The cache's folder."""
        return self._directory

    @property
    def path(self):
        """The log file's path."""
        return self._log

    # -- single items ---------------------------------------------------------------------

    def set(self, key, value, expire=None, read=False, tag=None, retry=False):
        """Sets ``key`` to ``value``, expiring after ``expire`` seconds (None: never).
        ``read=True``: ``value`` is a binary file whose bytes are stored. Returns True."""
        if read:
            value = value.read()
        self._store.set(encode_key(key), self._codec.encode(value, tag), expire)
        return True

    def __setitem__(self, key, value):
        self.set(key, value)

    def add(self, key, value, expire=None, read=False, tag=None, retry=False):
        """Sets ``key`` only when it has no value; returns whether it did (atomic, across
        every process)."""
        if read:
            value = value.read()
        return self._store.add(encode_key(key), self._codec.encode(value, tag), expire)

    def _result(self, found, default, read, expire_time, tag):
        if found is None:
            value, exp, tg = default, None, None
        else:
            raw, expiry = found
            value, tg = self._codec.decode(raw)
            exp = expiry / 1000 if expiry else None
            if read and isinstance(value, bytes):
                value = io.BytesIO(value)
        if expire_time and tag:
            return value, exp, tg
        if expire_time:
            return value, exp
        if tag:
            return value, tg
        return value

    def get(self, key, default=None, read=False, expire_time=False, tag=False, retry=False):
        """The value of ``key``, or ``default``. ``expire_time``/``tag``: a tuple with the
        expiry (Unix seconds) and/or the tag. ``read=True``: bytes come as a binary file."""
        found = self._store.get(encode_key(key))
        return self._result(found, default, read, expire_time, tag)

    def __getitem__(self, key):
        found = self._store.get(encode_key(key))
        if found is None:
            raise KeyError(key)
        return self._codec.decode(found[0])[0]

    def read(self, key, retry=False):
        """The bytes of ``key`` as a binary file; KeyError when absent."""
        found = self._store.get(encode_key(key))
        if found is None:
            raise KeyError(key)
        value = self._codec.decode(found[0])[0]
        return io.BytesIO(value) if isinstance(value, bytes) else value

    def __contains__(self, key):
        return self._store.contains(encode_key(key))

    def pop(self, key, default=None, expire_time=False, tag=False, retry=False):
        """Removes ``key`` and returns its value (``default`` when absent), atomically."""
        found = self._store.take(encode_key(key))
        return self._result(found, default, False, expire_time, tag)

    def delete(self, key, retry=False):
        """Removes ``key``; returns whether it had a value."""
        return self._store.delete(encode_key(key))

    def __delitem__(self, key, retry=True):
        if not self._store.delete(encode_key(key)):
            raise KeyError(key)

    def incr(self, key, delta=1, default=0, retry=False):
        """Adds ``delta`` to the integer of ``key`` and returns it, atomically across every
        process. An absent key starts from ``default`` (None: KeyError)."""
        n = self._store.incr(encode_key(key), int(delta), default)
        if n is None:
            raise KeyError(key)
        return n

    def decr(self, key, delta=1, default=0, retry=False):
        """``incr`` by ``-delta``."""
        return self.incr(key, -delta, default, retry)

    def touch(self, key, expire=None, retry=False):
        """Gives ``key`` a new expiry (None: never); returns whether it had a value."""
        return self._store.touch(encode_key(key), expire)

    # -- the whole cache ------------------------------------------------------------------

    def __len__(self):
        return self._store.len()

    def _keys(self):
        return list(map(decode_key, self._store.keys()))

    def __iter__(self):
        """The keys, oldest write first (a snapshot)."""
        return iter(self._keys())

    def __reversed__(self):
        return iter(reversed(self._keys()))

    def iterkeys(self, reverse=False):
        """The keys, oldest write first (``reverse``: newest first)."""
        keys = self._keys()
        return iter(reversed(keys) if reverse else keys)

    def peekitem(self, last=True, expire_time=False, tag=False, retry=False):
        """The newest (``last``) or oldest item, as ``(key, value)``; KeyError when empty."""
        keys = self._store.keys()
        for raw in reversed(keys) if last else keys:
            found = self._store.get(raw)
            if found is not None:
                key = decode_key(raw)
                res = self._result(found, None, False, expire_time, tag)
                if expire_time or tag:
                    return (key, res[0]), *res[1:]
                return key, res
        raise KeyError("dictionary is empty")

    def clear(self, retry=False):
        """Removes every item; returns how many."""
        return self._store.clear()

    def expire(self, now=None, retry=False):
        """Drops the expired items now; returns how many."""
        return self._store.expire()

    def cull(self, retry=False):
        """Drops the expired items (the engine keeps to ``size_limit`` on every write)."""
        return self._store.expire()

    def evict(self, tag, retry=False):
        """Removes the items with ``tag``; returns how many."""
        n = 0
        for raw in self._store.keys():
            found = self._store.get(raw)
            if found is not None and self._codec.decode(found[0])[1] == tag:
                n += self._store.delete(raw)
        return n

    def check(self, fix=False, retry=False):
        """Makes every write durable and returns the warnings found (a list; the log's
        records are checked by CRC on every read)."""
        self._store.sync()
        return []

    def volume(self):
        """Bytes the cache's log takes on disk."""
        return self._store.stats()["file_bytes"]

    def _engine_stats(self):
        s = self._store.stats()
        return s["hits"], s["misses"]

    def stats(self, enable=True, reset=False):
        """``(hits, misses)`` counted while statistics are enabled; ``reset`` starts over."""
        now = self._engine_stats()
        if self._stats_on:
            current = (now[0] - self._stats_base[0], now[1] - self._stats_base[1])
        else:
            current = self._stats_frozen
        if reset:
            current_after = (0, 0)
            self._stats_base = now
        else:
            current_after = current
        if enable:
            self._stats_base = (now[0] - current_after[0], now[1] - current_after[1])
        else:
            self._stats_frozen = current_after
        self._stats_on = enable
        self._settings["statistics"] = int(enable)
        return current

    def engine_stats(self):
        """The engine's own counters (a dict)."""
        return self._store.stats()

    def holder_pid(self):
        """The process id of the process that holds the cache's log."""
        return self._store.holder_pid()

    def reads_here(self):
        """How many gets this process answered by reading the log itself (as a client of
        the holder: no round trip to it)."""
        return self._store.reads_here()

    # -- transactions, memoize, objects ---------------------------------------------------

    @contextlib.contextmanager
    def transact(self, retry=False):
        """Runs the block while holding the cache's transaction lock (a ``flock`` on
        ``<log>.transact``, so across processes too). Only other ``transact`` blocks wait for
        it: single operations are atomic on their own and do not."""
        with self._transact:
            if self._transact_depth == 0:
                self._transact_file = open(self._log + ".transact", "a+b")
                fcntl.flock(self._transact_file, fcntl.LOCK_EX)
            self._transact_depth += 1
            try:
                yield
            finally:
                self._transact_depth -= 1
                if self._transact_depth == 0:
                    fcntl.flock(self._transact_file, fcntl.LOCK_UN)
                    self._transact_file.close()
                    self._transact_file = None

    def memoize(self, name=None, typed=False, expire=None, tag=None, ignore=()):
        """A decorator that caches a function's results (``async def`` functions too)."""
        return _memoize(self, name, typed, expire, tag, ignore)

    def open_writer(self, key, expire=None):
        """A binary file that writes a large object under ``key``; the object appears, whole,
        when it is closed (``with`` closes it; an exception inside the block discards it)."""
        return ObjectWriter(self._store.open_writer(encode_key(key), expire))

    def open_reader(self, key):
        """A binary file that reads the large object under ``key``; KeyError when absent."""
        reader = self._store.open_reader(encode_key(key))
        if reader is None:
            raise KeyError(key)
        return ObjectReader(reader)

    def delete_object(self, key):
        """Deletes the large object under ``key``; returns whether there was one."""
        return self._store.delete_object(encode_key(key))

    # -- life -----------------------------------------------------------------------------

    def close(self):
        """Closes the handle (as the holder: answers the other processes' requests in flight,
        then hands the cache over). Closing twice is harmless."""
        store = self.__dict__.get("_store")
        if store is not None:
            store.close()
        _OPEN.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):
        return {"directory": self._directory, "settings": self._settings,
                "durability": self.durability, "timeout": self.timeout}

    def __setstate__(self, state):
        settings = dict(state["settings"])
        self.__init__(state["directory"], state["timeout"], durability=state["durability"],
                      **settings)

    def __repr__(self):
        return f"Cache({self._directory!r})"


class ObjectWriter(io.RawIOBase):
    """What ``Cache.open_writer`` returns."""

    def __init__(self, native):
        super().__init__()
        self._w = native

    def writable(self):
        return True

    def write(self, b):
        return self._w.write(bytes(b))

    def tell(self):
        return self._w.tell()

    def close(self):
        if not self._w.closed:
            self._w.close()
        super().close()

    def abort(self):
        """Discards what was written."""
        self._w.abort()
        super().close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.close()


class ObjectReader(io.RawIOBase):
    """What ``Cache.open_reader`` returns."""

    def __init__(self, native):
        super().__init__()
        self._r = native

    @property
    def size(self):
        """The object's size in bytes."""
        return self._r.size

    def readable(self):
        return True

    def read(self, size=-1):
        return self._r.read(-1 if size is None else size)

    def readall(self):
        return self._r.read(-1)

    def readinto(self, b):
        data = self._r.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self):
        self._r.close()
        super().close()
