"""The README's Python block, run as written (in a temporary folder)."""

import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_python_example(tmp_path):
    text = open(README).read()
    m = re.search(r"<!-- python-example -->\n```python\n(.*?)```\n<!-- python-example:end -->",
                  text, re.S)
    assert m, "the README's python-example block"
    os.chdir(tmp_path)
    exec(compile(m.group(1), "README.md", "exec"), {})
    assert os.path.exists(tmp_path / "demo-cache" / "cache.log")
