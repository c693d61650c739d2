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


def test_the_readme_links_lead_somewhere():
    """README.md is read on GitHub, outside the site: its relative links (docs pages, the notebook, the
    store's schema, the benchmarks) must name files of the repository, and an #anchor a heading there."""
    import re

    from markdown.extensions.toc import slugify

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(relative) >= 10, links  # the README leads into the documentation
    for link in relative:
        target, _, anchor = link.partition("#")
        path = REPO / target
        assert path.exists(), f"README.md links to {link}: no such file"
        if anchor:
            headings = re.findall(r"^#+\s+(.+?)\s*$", path.read_text(encoding="utf-8"), flags=re.M)
            assert anchor in {slugify(h, "-") for h in headings}, f"README.md links to {link}: no such heading"


def test_ci_runs_the_readme_test_command_and_the_readme_stays_short():
    """.ci/run installs and tests exactly as the README's second set-up command says (its pip quiet), and
    the README stays a way in (issue 18: about 250 lines at most), the reference being in docs/."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    command = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/pytest'
    assert f"```bash\n{command}\n```" in readme
    assert command.replace("pip install -e", "pip install -q -e") in ci.splitlines()
    assert len(readme.splitlines()) <= 250
