"""logcache.Cache: diskcache's core API, the types kept natively, errors and objects."""

import asyncio
import fcntl
import os
import pickle
import subprocess
import sys
import time

import pytest

import logcache


@pytest.fixture
def cache(cache_dir):
    with logcache.Cache(cache_dir) as c:
        yield c


def test_types_round_trip_and_stay_distinct(cache):
    for key, value in [
        ("s", "str"), (b"s", b"bytes"), (1, 12), (1.5, 2.5), ((1, "a"), {"x": [1]}),
        ("big", 2**100), ("none", None), ("bool", True), ("-", -(2**63)),
    ]:
        cache[key] = value
        got = cache[key]
        assert got == value and type(got) is type(value), (key, got)
    cache["1"] = "one"
    cache[b"1"] = "bytes one"
    assert cache[1] == 12 and cache["1"] == "one" and cache[b"1"] == "bytes one"


def test_get_default_keyerror_contains_len_iter_delete(cache):
    assert cache.get("x") is None and cache.get("x", 5) == 5
    with pytest.raises(KeyError):
        cache["x"]
    with pytest.raises(KeyError):
        del cache["x"]
    for i in range(5):
        cache[i] = i
    cache[2] = "again"
    assert list(cache) == [0, 1, 3, 4, 2]
    assert list(reversed(cache)) == [2, 4, 3, 1, 0]
    assert len(cache) == 5 and 3 in cache and 9 not in cache
    assert cache.delete(3) and not cache.delete(3)
    assert cache.clear() == 4 and len(cache) == 0


def test_add_incr_decr_touch_pop(cache):
    assert cache.add("a", 1) and not cache.add("a", 2) and cache["a"] == 1
    assert cache.incr("a") == 2 and cache.incr("a", 10) == 12 and cache.decr("a", 2) == 10
    assert cache.incr("new", default=5) == 6
    with pytest.raises(KeyError):
        cache.incr("absent", default=None)
    cache["s"] = "text"
    with pytest.raises(TypeError):
        cache.incr("s")
    cache["max"] = 2**63 - 1
    with pytest.raises(OverflowError):
        cache.incr("max")
    cache.set("t", 1, expire=100, tag="blue")
    assert cache.incr("t") == 2
    value, exp, tag = cache.get("t", expire_time=True, tag=True)
    assert (value, tag) == (2, "blue") and exp > time.time() + 50
    assert cache.touch("t", expire=None) and cache.get("t", expire_time=True) == (2, None)
    assert not cache.touch("absent")
    assert cache.pop("t", tag=True) == (2, "blue") and "t" not in cache
    assert cache.pop("t", "gone") == "gone"


def test_expiry(cache):
    cache.set("e", 1, expire=0.05)
    assert cache["e"] == 1
    time.sleep(0.1)
    assert cache.get("e") is None and "e" not in cache
    cache.set("f", 1, expire=0.01)
    time.sleep(0.05)
    assert cache.expire() >= 1


def test_tags_and_evict(cache):
    for i in range(6):
        cache.set(i, i, tag="odd" if i % 2 else "even")
    assert cache.evict("odd") == 3
    assert sorted(cache) == [0, 2, 4]


def test_memoize_sync_and_async(cache):
    calls = []

    @cache.memoize(expire=60)
    def square(x):
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9 and calls == [3]
    assert square.__cache_key__(3) in cache

    @cache.memoize()
    async def cube(x):
        calls.append(("c", x))
        return x**3

    assert asyncio.run(cube(2)) == 8 and asyncio.run(cube(2)) == 8
    assert calls == [3, ("c", 2)]
    with pytest.raises(TypeError):
        cache.memoize(lambda: 1)


def test_stats_and_volume(cache):
    cache.stats(enable=True, reset=True)
    cache["k"] = 1
    cache["k"]
    cache.get("missing")
    assert cache.stats() == (1, 1)
    assert cache.volume() > 0
    assert cache.check() == []


def test_serializer_is_pluggable(cache_dir):
    import json

    with logcache.Cache(cache_dir, serializer=json) as c:
        c["k"] = {"a": [1, 2]}
        assert c["k"] == {"a": [1, 2]}
    with open(os.path.join(cache_dir, "cache.log"), "rb") as f:
        assert b'{"a": [1, 2]}' in f.read()


def test_objects_stream_and_commit_whole(cache):
    block = os.urandom(1 << 20)
    with cache.open_writer("movie") as w:
        for _ in range(5):
            w.write(block)
    r = cache.open_reader("movie")
    assert r.size == 5 << 20
    assert r.read(10) == block[:10]
    assert r.read() == block[10:] + block * 4
    r.close()
    with pytest.raises(RuntimeError):
        with cache.open_writer("half") as w:
            w.write(block)
            raise RuntimeError("abandon")
    with pytest.raises(KeyError):
        cache.open_reader("half")
    assert cache.delete_object("movie")
    with pytest.raises(KeyError):
        cache.open_reader("movie")


def test_values_survive_reopen_in_every_durability(tmp_path):
    for mode in ["sync", "interval:10ms", "none"]:
        d = str(tmp_path / mode.replace(":", ""))
        with logcache.Cache(d, durability=mode) as c:
            c["k"] = mode
        with logcache.Cache(d, durability=mode) as c:
            assert c["k"] == mode
    with pytest.raises(ValueError):
        logcache.Cache(str(tmp_path / "bad"), durability="sometimes")


def test_locked_by_another_program_names_its_pid(cache_dir):
    os.makedirs(cache_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"""
import fcntl, os, sys, time
f = open({os.path.join(cache_dir, 'cache.log.lock')!r}, 'w')
fcntl.flock(f, fcntl.LOCK_EX)
f.write(f'{{os.getpid()}}\\n'); f.flush()
print('locked', flush=True)
time.sleep(60)
"""],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(logcache.CacheLocked) as e:
            logcache.Cache(cache_dir, timeout=0.2)
        assert f"(process {holder.pid})" in str(e.value)
        assert isinstance(e.value, logcache.Error)
    finally:
        holder.kill()
        holder.wait()


def test_cache_pickles_as_its_directory(cache):
    cache["k"] = 1
    other = pickle.loads(pickle.dumps(cache))
    assert other["k"] == 1 and other.directory == cache.directory
    other.close()


@pytest.mark.parametrize("policy", ["s3-fifo", "clock", "fifo", "least-frequently-used"])
def test_eviction_policies_keep_the_budget_and_read_keys(cache_dir, policy):
    """Every policy keeps the live bytes within size_limit; a key read after every write
    survives a stream of new keys under S3-FIFO and CLOCK (reads count), not under FIFO."""
    with logcache.Cache(cache_dir, size_limit=64 * 1024, eviction_policy=policy) as c:
        c["hot"] = b"h" * 1000
        for i in range(2000):
            c[i] = b"v" * 1000
            c.get("hot")
        assert 0 < len(c) < 100
        assert c[1999] == b"v" * 1000
        kept = "hot" in c
    assert kept == (policy != "fifo")


def test_an_unknown_eviction_policy_is_refused(cache_dir):
    with pytest.raises(ValueError, match="s3-fifo"):
        logcache.Cache(cache_dir, eviction_policy="random")
