# --- logcache's shim (appended to diskcache/core.py at test time by run_suite.py) ---
# diskcache's own modules (persistent.Index, the tests) import Cache from here: they get
# logcache.Cache with diskcache's default settings. Nothing of diskcache's SQLite Cache is used.
import logcache as _logcache


class Cache(_logcache.Cache):  # noqa: F811 - replaces diskcache's
    def __init__(self, directory=None, timeout=60, disk=Disk, **settings):  # noqa: F821
        merged = dict(DEFAULT_SETTINGS)  # noqa: F821
        merged.update(settings)
        super().__init__(directory, timeout, **merged)
