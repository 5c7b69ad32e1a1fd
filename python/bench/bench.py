"""logcache.Cache against python-diskcache (and pymemcache against a real memcached, as
diskcache's own benchmark compares), with 1 and 8 processes: set, get and delete ops/s,
median of 3 runs. Writes a Markdown table.

    python bench.py [--ops N] [--runs 3] [--procs 1,8] [--out FILE]

Rows, at the same durability: logcache ``durability="none"`` vs diskcache's default
(WAL, ``synchronous=NORMAL``: no fsync per write), and logcache ``"sync"`` (fsync'd before
each write returns, group commit) vs diskcache ``sqlite_synchronous=2`` (FULL). Each process
sets N distinct keys (100-byte values), gets them, deletes them; a phase's rate is every
process's ops over the phase's wall time (processes start together at a barrier).
"""

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

VALUE = b"v" * 100


def open_cache(kind, path, port):
    if kind.startswith("logcache"):
        import logcache

        return logcache.Cache(path, durability=kind.split(":")[1], eviction_policy="none")
    if kind.startswith("diskcache"):
        import diskcache

        sync = {"diskcache:normal": 1, "diskcache:full": 2}[kind]
        return diskcache.Cache(path, sqlite_synchronous=sync)
    from pymemcache.client.base import Client

    return Client(("127.0.0.1", port))


def worker(kind, path, port, n, rank, barrier, out):
    c = open_cache(kind, path, port)
    keys = [f"k{rank}-{i}" for i in range(n)]
    times = []
    for phase in ("set", "get", "delete"):
        barrier.wait()
        t = time.perf_counter()
        if phase == "set":
            for k in keys:
                c.set(k, VALUE)
        elif phase == "get":
            for k in keys:
                assert c.get(k) == VALUE
        else:
            for k in keys:
                c.delete(k)
        times.append((t, time.perf_counter()))
    barrier.wait()
    if hasattr(c, "close"):
        c.close()
    out.put((rank, times))


def run(kind, procs, n, port):
    path = tempfile.mkdtemp(prefix="bench-")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=worker, args=(kind, path, port, n, r, barrier, out))
          for r in range(procs)]
    for p in ps:
        p.start()
    # A worker that failed puts nothing: the timeout turns a hang into an error.
    results = [out.get(timeout=600) for _ in ps]
    for p in ps:
        p.join()
    shutil.rmtree(path, ignore_errors=True)
    rates = []
    for phase in range(3):
        start = min(t[phase][0] for _, t in results)
        end = max(t[phase][1] for _, t in results)
        rates.append(procs * n / (end - start))
    return rates


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=20000, help="ops per process and phase")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--procs", default="1,8")
    ap.add_argument("--out")
    args = ap.parse_args()
    port = free_port()
    memcached = None
    kinds = ["logcache:none", "diskcache:normal", "logcache:sync", "diskcache:full"]
    if shutil.which("memcached"):
        cmd = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0"]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]  # memcached refuses to run as root without -u
        memcached = subprocess.Popen(cmd)
        time.sleep(0.3)
        kinds.append("memcached")
    rows = []
    try:
        for procs in [int(p) for p in args.procs.split(",")]:
            for kind in kinds:
                runs = [run(kind, procs, args.ops, port) for _ in range(args.runs)]
                med = [statistics.median(r[i] for r in runs) for i in range(3)]
                rows.append((procs, kind, med))
                print(procs, kind, " ".join(f"{x:,.0f}" for x in med), flush=True)
    finally:
        if memcached:
            memcached.kill()
            memcached.wait()
    base = {(p, k): m for p, k, m in rows}
    pair = {"logcache:none": "diskcache:normal", "logcache:sync": "diskcache:full"}
    lines = ["| processes | store | set/s | get/s | delete/s | set × | get × | delete × |",
             "|---|---|---|---|---|---|---|---|"]
    for procs, kind, m in rows:
        ref = base.get((procs, pair.get(kind)))
        ratios = [f"{a / b:.2f}" for a, b in zip(m, ref)] if ref else ["", "", ""]
        lines.append(f"| {procs} | {kind} | " + " | ".join(f"{x:,.0f}" for x in m)
                     + " | " + " | ".join(ratios) + " |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
