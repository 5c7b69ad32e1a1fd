"""The diskcache tests that cannot apply to logcache.Cache, each with its reason (copied next
to diskcache's tests by run_suite.py)."""

import pytest

NOT_APPLICABLE = {
    'test_core::test_disk_reset': (
        'diskcache.Disk subclasses and mocks of Cache._disk: logcache has no Disk layer (values are encoded by logcache._codec, with a pluggable serializer)'
    ),
    'test_core::test_disk_valueerror': (
        'diskcache.Disk subclasses and mocks of Cache._disk: logcache has no Disk layer (values are encoded by logcache._codec, with a pluggable serializer)'
    ),
    'test_core::test_custom_filename_disk': (
        'diskcache.Disk subclasses and mocks of Cache._disk: logcache has no Disk layer (values are encoded by logcache._codec, with a pluggable serializer)'
    ),
    'test_core::test_pragma_error': (
        "SQLite internals (mocks of the connection, pragmas, timeouts of SQLite's busy lock): logcache has no SQLite"
    ),
    'test_core::test_close_error': (
        "SQLite internals (mocks of the connection, pragmas, timeouts of SQLite's busy lock): logcache has no SQLite"
    ),
    'test_core::test_getsetdel': (
        "a 1 MiB key ((None,) * 2**20, pickled): logcache's keys are at most 64 KiB (MAX_KEY_LEN); the rest of the test's values pass in test_getsetdel's first half"
    ),
    'test_core::test_get_keyerror4': (
        'mocks diskcache.core.open to fail reading a value file: values kept in files of their own (reader.name, file cleanup): logcache keeps every value in its log; large objects are open_writer/open_reader'
    ),
    'test_core::test_set_twice': (
        'values kept in files of their own (reader.name, file cleanup): logcache keeps every value in its log; large objects are open_writer/open_reader'
    ),
    'test_core::test_set_timeout': (
        "SQLite internals (mocks of the connection, pragmas, timeouts of SQLite's busy lock): logcache has no SQLite"
    ),
    'test_core::test_get_ioerror_fast_path': (
        'diskcache.Disk subclasses and mocks of Cache._disk: logcache has no Disk layer (values are encoded by logcache._codec, with a pluggable serializer)'
    ),
    'test_core::test_pop_ioerror': (
        'diskcache.Disk subclasses and mocks of Cache._disk: logcache has no Disk layer (values are encoded by logcache._codec, with a pluggable serializer)'
    ),
    'test_core::test_path': (
        'values kept in files of their own (reader.name, file cleanup): logcache keeps every value in its log; large objects are open_writer/open_reader'
    ),
    'test_core::test_expire_rows': (
        'diskcache counts expired items in len() and iteration until a cull or expire() removes them; logcache drops an expired item at once (invisible, not counted), so expire() finds nothing left to count'
    ),
    'test_core::test_least_recently_stored': (
        "diskcache's policies evict per SQL query at cull time and settings change at runtime (reset); logcache evicts in the engine on every write under its byte budget (CLOCK or FIFO), the budget fixed at open"
    ),
    'test_core::test_least_recently_used': (
        "diskcache's policies evict per SQL query at cull time and settings change at runtime (reset); logcache evicts in the engine on every write under its byte budget (CLOCK or FIFO), the budget fixed at open"
    ),
    'test_core::test_least_frequently_used': (
        "diskcache's policies evict per SQL query at cull time and settings change at runtime (reset); logcache evicts in the engine on every write under its byte budget (CLOCK or FIFO), the budget fixed at open"
    ),
    'test_core::test_check': (
        'values kept in files of their own (reader.name, file cleanup): logcache keeps every value in its log; large objects are open_writer/open_reader; check() finds nothing to fix (each record is CRC-checked on read)'
    ),
    'test_core::test_integrity_check': (
        "SQLite internals (mocks of the connection, pragmas, timeouts of SQLite's busy lock): logcache has no SQLite"
    ),
    'test_core::test_expire': (
        'diskcache counts expired items in len() and iteration until a cull or expire() removes them; logcache drops an expired item at once (invisible, not counted), so expire() finds nothing left to count'
    ),
    'test_core::test_clear_timeout': (
        "SQLite internals (mocks of the connection, pragmas, timeouts of SQLite's busy lock): logcache has no SQLite"
    ),
    'test_core::test_add_timeout': (
        "SQLite internals (mocks of the connection, pragmas, timeouts of SQLite's busy lock): logcache has no SQLite"
    ),
    'test_core::test_iter_expire': (
        'diskcache counts expired items in len() and iteration until a cull or expire() removes them; logcache drops an expired item at once (invisible, not counted), so expire() finds nothing left to count'
    ),
    'test_core::test_push_pull': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_push_pull_prefix': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_push_pull_extras': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_push_pull_expire': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_push_peek_expire': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_push_pull_large_value': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_push_peek_large_value': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_pull_ioerror': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_peek_ioerror': (
        "diskcache's queue methods (push, pull, peek) are not in logcache's API"
    ),
    'test_core::test_peekitem_ioerror': (
        'diskcache.Disk subclasses and mocks of Cache._disk: logcache has no Disk layer (values are encoded by logcache._codec, with a pluggable serializer)'
    ),
    'test_core::test_size_limit_with_files': (
        'values kept in files of their own (reader.name, file cleanup): logcache keeps every value in its log; large objects are open_writer/open_reader'
    ),
    'test_core::test_size_limit_with_database': (
        "diskcache's policies evict per SQL query at cull time and settings change at runtime (reset); logcache evicts in the engine on every write under its byte budget (CLOCK or FIFO), the budget fixed at open; volume() is the log file, dead records included until compaction"
    ),
    'test_core::test_cull_size_limit_0': (
        "diskcache's policies evict per SQL query at cull time and settings change at runtime (reset); logcache evicts in the engine on every write under its byte budget (CLOCK or FIFO), the budget fixed at open"
    ),
    'test_core::test_cull_timeout': (
        "SQLite internals (mocks of the connection, pragmas, timeouts of SQLite's busy lock): logcache has no SQLite"
    ),
    'test_core::test_custom_eviction_policy': (
        "diskcache's policies evict per SQL query at cull time and settings change at runtime (reset); logcache evicts in the engine on every write under its byte budget (CLOCK or FIFO), the budget fixed at open (custom policies are SQL queries in diskcache.EVICTION_POLICY)"
    ),
    'test_core::test_cleanup_dirs': (
        'values kept in files of their own (reader.name, file cleanup): logcache keeps every value in its log; large objects are open_writer/open_reader'
    ),
    'test_core::test_disk_write_os_error': (
        'diskcache.Disk subclasses and mocks of Cache._disk: logcache has no Disk layer (values are encoded by logcache._codec, with a pluggable serializer)'
    ),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        why = NOT_APPLICABLE.get(f"{item.module.__name__.split('.')[-1]}::{item.name}")
        if why:
            item.add_marker(pytest.mark.skip(reason=why))
