"""Engine options that need no Ray: refused in one line, with nothing written (ray installed or not)."""
import sys

from typer.testing import CliRunner

from extract.cli import app
from tests.conftest import make_dataset
from tests.test_shards_slices import cli_args

cli = CliRunner()


def test_ray_options_need_the_ray_engine(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=2)
    result = cli.invoke(app, cli_args(data, tmp_path / "s", "--workers", "2"))
    assert result.exit_code == 3 and "--workers only apply to a distributed engine" in result.output
    assert not (tmp_path / "s").exists()


def test_missing_ray_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "extract.engines.ray_engine", raising=False)
    data = make_dataset(tmp_path / "data", per_class=2)
    result = cli.invoke(app, cli_args(data, tmp_path / "s", "--engine", "ray"))
    assert result.exit_code == 3 and 'pip install -e ".[ray]"' in result.output
    assert not (tmp_path / "s").exists()
