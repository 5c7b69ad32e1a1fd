"""Several processes, one cache: the first holds the log and serves it; the others are its
clients; the next takes over when the holder goes; a forked child never uses its parent's
handle."""

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading

import logcache


def _incr(directory, n):
    c = logcache.Cache(directory)
    for _ in range(n):
        c.incr("n")
    holder = c.holder_pid()
    c.close()
    return holder


def test_eight_processes_lose_no_incr_and_never_see_locked(cache_dir):
    ctx = mp.get_context("spawn")
    with ctx.Pool(8) as pool:
        holders = pool.starmap(_incr, [(cache_dir, 500)] * 8)
    with logcache.Cache(cache_dir) as c:
        assert c["n"] == 4000
    assert all(h > 0 for h in holders)


def test_a_forked_child_becomes_a_client_of_its_parent(cache_dir):
    c = logcache.Cache(cache_dir)
    c["n"] = 0
    kids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for _ in range(200):
                    c.incr("n")
                if c.holder_pid() != os.getppid():
                    code = 3
            except BaseException:
                code = 2
            os._exit(code)
        kids.append(pid)
    for pid in kids:
        assert os.waitpid(pid, 0)[1] == 0
    assert c["n"] == 800
    assert c.holder_pid() == os.getpid()
    c.close()


def _writer(directory, start, count, ready):
    c = logcache.Cache(directory)
    ready.set()
    for i in range(start, start + count):
        c.set(i, i)
        c.incr("total")
    c.close()


def test_the_holder_closing_hands_over_without_losing_an_incr(cache_dir):
    holder = logcache.Cache(cache_dir)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_writer, args=(cache_dir, 0, 3000, ready))
    p.start()
    assert ready.wait(30)
    holder.close()  # while the client writes: it takes over
    p.join(60)
    assert p.exitcode == 0
    with logcache.Cache(cache_dir) as c:
        assert c["total"] == 3000
        assert all(c[i] == i for i in range(3000))


def test_kill9_of_the_holder_lets_a_client_take_over(cache_dir):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"""
import logcache, time
c = logcache.Cache({cache_dir!r})
print('ready', flush=True)
time.sleep(120)
"""],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    client = subprocess.Popen(
        [sys.executable, "-c", f"""
import logcache, os
c = logcache.Cache({cache_dir!r})
print('client', flush=True)
for i in range(2000):
    c.set(i, i)
assert all(c[i] == i for i in range(2000))
print(c.holder_pid() == os.getpid())
"""],
        stdout=subprocess.PIPE, text=True,
    )
    assert client.stdout.readline().strip() == "client"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    out, _ = client.communicate(timeout=120)
    assert client.returncode == 0
    assert out.strip() == "True"


def test_the_gil_is_released_while_a_call_waits(cache_dir):
    """A client's call blocked on a stopped holder leaves the other threads running: with the
    GIL held, the main thread would never get past the event (the test would hang). A get
    does not wait: the client reads the log itself."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"""
import logcache, time
c = logcache.Cache({cache_dir!r})
c['k'] = 'v'
print('ready', flush=True)
time.sleep(120)
"""],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        c = logcache.Cache(cache_dir)
        assert c.holder_pid() == holder.pid
        os.kill(holder.pid, signal.SIGSTOP)
        # Answered by the client's own follower while the holder cannot answer anything.
        assert c["k"] == "v"
        started = threading.Event()
        result = []

        def blocked():
            started.set()
            result.append(c.incr("n"))

        t = threading.Thread(target=blocked)
        t.start()
        assert started.wait(30)
        # Python work on this thread while the other waits inside the binding.
        total = sum(range(100_000))
        assert total > 0 and not result
        os.kill(holder.pid, signal.SIGCONT)
        t.join(60)
        assert result == [1]
        c.close()
    finally:
        holder.kill()
        holder.wait()


def _follow(directory, conn):
    """A client: reads each key the holder announces, then writes and reads its own."""
    c = logcache.Cache(directory)
    conn.send(c.holder_pid())
    seen = []
    while True:
        i = conn.recv()
        if i is None:
            break
        seen.append(c.get(("k", i)))
        conn.send(i)
    for i in range(100):
        c.set(("mine", i), i * 2)
        seen.append(c.get(("mine", i)))
    conn.send((seen, c.reads_here()))
    c.close()


def test_a_client_reads_the_log_itself_and_misses_no_write(cache_dir):
    """Gets in a client are answered by its own reader of the log (logcache.Follower), not
    by a round trip to the holder; each sees every write that returned before it."""
    holder = logcache.Cache(cache_dir)
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    p = ctx.Process(target=_follow, args=(cache_dir, there))
    p.start()
    assert here.recv() == os.getpid()
    for i in range(300):
        holder.set(("k", i), {"n": i})
        if i % 3 == 0:
            holder.delete(("k", i))
        here.send(i)
        assert here.recv() == i
    here.send(None)
    seen, reads_here = here.recv()
    p.join(60)
    assert p.exitcode == 0
    want = [None if i % 3 == 0 else {"n": i} for i in range(300)]
    assert seen == want + [i * 2 for i in range(100)]
    assert reads_here == 400
    assert holder.reads_here() == 0
    holder.close()
