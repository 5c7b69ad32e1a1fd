"""Runs python-diskcache's own tests (tests/test_core.py, tests/test_index.py from its PyPI
source distribution) against logcache.Cache, and writes the pass list.

    python run_suite.py WORKDIR [--report FILE]

Downloads the sdist with pip (pinned), copies its `diskcache` package into WORKDIR with
logcache's shim appended to `core.py` (so `diskcache.Cache` is `logcache.Cache` with
diskcache's default settings, and diskcache's `Index` runs over it), adds `conftest.py` from
here (the tests that cannot apply, each with its reason), and runs pytest. Exits non-zero
when a test that applies fails.
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET

VERSION = "5.6.3"
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir")
    ap.add_argument("--report", help="write the pass list (Markdown) here")
    args = ap.parse_args()
    work = os.path.abspath(args.workdir)
    os.makedirs(work, exist_ok=True)
    sdist = glob.glob(os.path.join(work, f"diskcache-{VERSION}.tar.gz"))
    if not sdist:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
             ":all:", f"diskcache=={VERSION}", "-d", work],
            check=True,
        )
        sdist = glob.glob(os.path.join(work, f"diskcache-{VERSION}.tar.gz"))
    src = os.path.join(work, f"diskcache-{VERSION}")
    shutil.rmtree(src, ignore_errors=True)
    with tarfile.open(sdist[0]) as t:
        t.extractall(work, filter="data")
    with open(os.path.join(src, "diskcache", "core.py"), "a") as core, open(
        os.path.join(HERE, "shim.py")
    ) as shim:
        core.write("\n\n" + shim.read())
    shutil.copy(os.path.join(HERE, "conftest.py"), os.path.join(src, "tests", "conftest.py"))
    junit = os.path.join(work, "junit.xml")
    env = dict(os.environ, PYTHONPATH=src)
    rc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", junit,
         "tests/test_core.py", "tests/test_index.py"],
        cwd=src, env=env,
    ).returncode
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname').split('.')[-1]}::{case.get('name')}"
        skipped = case.find("skipped")
        if skipped is not None:
            rows.append((name, "not applicable", skipped.get("message", "")))
        elif case.find("failure") is not None or case.find("error") is not None:
            rows.append((name, "FAILED", ""))
        else:
            rows.append((name, "passed", ""))
    passed = sum(1 for r in rows if r[1] == "passed")
    na = sum(1 for r in rows if r[1] == "not applicable")
    failed = sum(1 for r in rows if r[1] == "FAILED")
    summary = f"{passed} passed, {na} not applicable, {failed} failed of {len(rows)}"
    print(f"diskcache {VERSION} suite against logcache.Cache: {summary}")
    if args.report:
        with open(args.report, "w") as f:
            f.write(f"python-diskcache {VERSION}'s tests against logcache.Cache: {summary}.\n\n")
            f.write("| test | result | why not applicable |\n|---|---|---|\n")
            for name, result, why in rows:
                f.write(f"| `{name}` | {result} | {why.replace('|', '/')} |\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
