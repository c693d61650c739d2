"""The `extract` command line: a thin layer that prints a summary or one clear error line."""
from typer.testing import CliRunner

from extract.cli import app

runner = CliRunner()
TINY_ARGS = ["--backbone", "mobilenet", "--weights", "none", "--size", "32", "--alpha", "0.25"]


def test_run_twice_then_ls(dataset, tmp_path):
    store = str(tmp_path / "store")
    first = runner.invoke(app, ["run", "--data", str(dataset), "--store", store, *TINY_ARGS])
    assert first.exit_code == 0, first.output
    assert "extracted" in first.output and "24" in first.output
    second = runner.invoke(app, ["run", "--data", str(dataset), "--store", store, *TINY_ARGS])
    assert second.exit_code == 0
    assert "Nothing to extract: all 24 images are already cached" in second.output
    listing = runner.invoke(app, ["ls", "--store", store])
    assert listing.exit_code == 0
    assert "train 12, validation 12" in listing.output and "mobilenet (alpha 0.25)" in listing.output


def test_unknown_backbone_lists_choices_and_writes_nothing(dataset, tmp_path):
    result = runner.invoke(app, ["run", "--data", str(dataset), "--store", str(tmp_path / "s"),
                                 "--backbone", "vgg17"])
    assert result.exit_code == 2
    assert "vgg16" in result.output and "mobilenet_v2" in result.output
    assert not (tmp_path / "s").exists()


def test_missing_weights_is_one_line(dataset, tmp_path):
    result = runner.invoke(app, ["run", "--data", str(dataset), "--store", str(tmp_path / "s"),
                                 "--backbone", "vgg16", "--weights", str(tmp_path / "w.h5")])
    assert result.exit_code == 3  # refused input (2 is a usage error)
    assert "Weights file not found" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s").exists()


def test_empty_data_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["run", "--data", str(tmp_path / "empty"), "--store", str(tmp_path / "s"),
                                 *TINY_ARGS])
    assert result.exit_code == 3 and "No images found" in result.output
    assert not (tmp_path / "s").exists()


def test_backbones_lists_sizes_and_layers():
    result = runner.invoke(app, ["backbones"])
    assert result.exit_code == 0
    for text in ("vgg16", "efficientnet_b0", "block5_pool", "conv_pw_13_relu", "299"):
        assert text in result.output


def test_ls_on_a_folder_that_is_not_a_store(tmp_path):
    result = runner.invoke(app, ["ls", "--store", str(tmp_path)])
    assert result.exit_code == 3 and "Not a feature store" in result.output


def test_json_output_of_run_ls_and_verify_parses(dataset, tmp_path):
    import json

    store = str(tmp_path / "store")
    first = runner.invoke(app, ["run", "--data", str(dataset), "--store", store, *TINY_ARGS, "--json"])
    assert first.exit_code == 0, first.output
    (summary,) = json.loads(first.stdout)  # stdout holds the JSON alone: no progress bar, no table
    assert summary["extracted"] == 24 and summary["cached"] == 0 and summary["config"]["backbone"] == "mobilenet"
    again = json.loads(runner.invoke(app, ["run", "--data", str(dataset), "--store", store, *TINY_ARGS,
                                           "--json"]).stdout)
    assert again[0]["extracted"] == 0 and again[0]["cached"] == 24
    listing = json.loads(runner.invoke(app, ["ls", "--store", store, "--json"]).stdout)
    (config,) = listing["configs"]
    assert config["features_cached"] == 24 and config["bytes"] > 0
    assert config["datasets"][0]["split_counts"] == {"train": 12, "validation": 12}
    checked = runner.invoke(app, ["verify", "--store", store, "--json"])
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"] is True


def test_quiet_run_prints_the_result_only(dataset, tmp_path):
    result = runner.invoke(app, ["-q", "run", "--data", str(dataset), "--store", str(tmp_path / "s"), *TINY_ARGS])
    assert result.exit_code == 0, result.output
    assert "extracted" in result.stdout and "images/s" not in result.stdout.split("extract run:")[0]


def test_a_failure_while_working_exits_1(tmp_path, monkeypatch):
    import store.verify

    def broken(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store.verify, "verify_store", broken)
    result = runner.invoke(app, ["verify", "--store", str(tmp_path)])
    assert result.exit_code == 1 and "Input/output error" in result.output
