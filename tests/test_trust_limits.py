"""Issue 20: sizes a run can never afford are refused in one line, and an out-of-memory in the base is
one line that leaves no empty configuration listed."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from extract import extractor as extractor_module
from extract.cli import app as extract_app
from store import FeatureStore
from tests.conftest import TINY, TINY_RUN, cli_flags, make_image

runner = CliRunner()


def one_error(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize("size", ["8", "31", "4097", "100000"])
def test_a_size_out_of_range_is_one_line_and_writes_nothing(dataset, tmp_path, size):
    flags = cli_flags(TINY, TINY_RUN)
    flags[flags.index("--size") + 1] = size
    result = runner.invoke(extract_app, ["run", "--data", str(dataset), "--store", str(tmp_path / "s"), *flags])
    line = one_error(result)
    assert result.exit_code == 3 and "32 to 4096" in line and f"Received: {size}" in line, line
    assert not (tmp_path / "s").exists()


class ResourceExhaustedError(Exception):
    """Named as TensorFlow names its allocation failure (tf.errors.ResourceExhaustedError)."""


def test_out_of_memory_in_the_base_is_one_line_and_lists_no_empty_configuration(dataset, tmp_path, monkeypatch):
    def exhausted(self):
        def infer(images):
            raise ResourceExhaustedError("OOM when allocating tensor with shape[8,16,16,16]")
        return infer
    monkeypatch.setattr(extractor_module.Extractor, "infer", property(exhausted))
    store = tmp_path / "s"
    result = runner.invoke(extract_app, ["run", "--data", str(dataset), "--store", str(store),
                                         *cli_flags(TINY, TINY_RUN)])
    line = one_error(result)
    assert result.exit_code == 1, result.output
    assert "Out of memory" in line and "--batch-size" in line and "--size" in line, line
    assert FeatureStore(store).configs() == []  # nothing listed by `extract ls`
    listed = runner.invoke(extract_app, ["ls", "--store", str(store)])
    assert "mobilenet" not in listed.output, listed.output


def test_out_of_memory_keeps_a_configuration_that_already_holds_shards(dataset, tmp_path, monkeypatch):
    from extract.api import run_extraction

    store = tmp_path / "s"
    run_extraction(dataset, store, TINY, TINY_RUN)
    make_image(dataset / "train" / "cats" / "new.png", (10, 20, 30), seed=99)  # one image to extract
    monkeypatch.setattr(extractor_module.Extractor, "infer", property(lambda self: (_ for _ in ()).throw(MemoryError())))
    with pytest.raises(RuntimeError, match="Out of memory"):
        run_extraction(dataset, store, TINY, TINY_RUN)
    assert len(FeatureStore(store).configs()) == 1
