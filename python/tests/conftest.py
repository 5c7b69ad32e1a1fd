import os
import sys

import pytest


@pytest.fixture
def cache_dir(tmp_path):
    return str(tmp_path / "cache")


def python():
    return sys.executable


def env():
    e = dict(os.environ)
    return e
