"""The documentation site builds with `mkdocs build --strict`: a broken link, a missing page in the
navigation or an API reference to a name that does not exist fails here (and so in CI)."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_the_documentation_site_builds_strictly(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "index.html").is_file()
