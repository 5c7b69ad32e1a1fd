"""Seed 004's example, verbatim (its line breaks restored), against the binding."""

import os

from logcache import DurableKVCache


def test_seed_example_verbatim(tmp_path, capsys):
    os.chdir(tmp_path)
    cache = DurableKVCache(storage_path="cache_data.txt")
    cache.put("user:123", '{"name": "Alice", "role": "admin"}')
    cache.put("config:theme", "dark")
    print(cache.get("user:123"))  # {"name": "Alice", "role": "admin"}
    cache2 = DurableKVCache(storage_path="cache_data.txt")
    print(cache2.get("user:123"))  # {"name": "Alice", "role": "admin"} (recovered!)
    print(cache2.get("config:theme"))  # dark
    out = capsys.readouterr().out.splitlines()
    assert out == ['{"name": "Alice", "role": "admin"}'] * 2 + ["dark"]
    cache2.close()
    cache.close()
    # Recovered from the log by a new open, with the compaction threshold of the seed.
    cache = DurableKVCache("cache.txt", compaction_threshold=100)
    cache.put("key1", "value1")
    cache.put("key1", "value2")  # Update
    for i in range(1, 400):
        cache.put("counter", str(i))
    cache.close()
    cache = DurableKVCache("cache.txt", compaction_threshold=100)
    assert cache.get("key1") == "value2"
    assert cache.get("counter") == "399"
    assert cache.get("missing") is None
    assert cache.delete("key1") and cache.get("key1") is None
    cache.close()
    # Compaction ran (after every 100 records): the log holds the live records, not 401.
    from logcache import Cache

    with Cache("cache.txt") as raw:
        assert raw.engine_stats()["file_bytes"] < 100 * 40
