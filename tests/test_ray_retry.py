"""The retry of a task whose worker died keeps what that worker had committed (no Ray needed:
this is the driver's bookkeeping, the part that makes a retry store every image once)."""
import numpy as np

from extract.engines.commits import CommitTracker
from extract.engines.progress import WorkerMeter
from extract.runner import ShardTask
from store.config import ExtractorConfig
from store.layout import StoreLayout
from store.shards import ShardContent, write_shard

CONFIG = ExtractorConfig(backbone="mobilenet", weights_sha256="random-init-seed0", preprocess="tf", size=32,
                         layer="conv_pw_13_relu", feature_shape=(2,))


def test_salvage_keeps_committed_rows_and_retries_only_the_rest(tmp_path):
    shards_dir = StoreLayout(tmp_path).shards_dir(CONFIG.config_id)
    paths = [f"/data/{i}.png" for i in range(6)]
    expected = {path: f"{i:064x}" for i, path in enumerate(paths)}
    task = ShardTask(str(tmp_path), CONFIG, tuple(paths), 2, 3, False)
    before = write_shard(shards_dir, CONFIG.config_id, ShardContent(
        [expected[paths[5]]], np.zeros((1, 2), "float16"), [], []))  # committed before the run: not this task's
    tracker = CommitTracker.for_task(task)
    # The dead worker had committed one shard: two images and one undecodable file.
    name = write_shard(shards_dir, CONFIG.config_id, ShardContent(
        [expected[paths[0]], expected[paths[2]]], np.ones((2, 2), "float16"), [expected[paths[3]]], ["cannot decode"]))
    (shards_dir / "shard-uncommitted.h5").write_bytes(b"a shard renamed into place, killed before its marker")

    remaining, done = tracker.salvage(task, expected)
    assert remaining.paths == (paths[1], paths[4], paths[5])
    assert remaining.config == task.config and remaining.shard_size == task.shard_size
    assert done.extracted == 2 and done.rejected == [(paths[3], "cannot decode")] and done.shards == [name]
    assert before not in done.shards


def test_progress_taken_back_by_a_retry_is_counted_once():
    totals: list[int] = []
    meter = WorkerMeter(on_progress=totals.append)
    meter("a", 4)
    meter("a", 4)  # then worker a dies; none of its 8 images was committed
    meter("a", -8)
    meter("b", 4)
    meter("b", 4)
    assert sum(totals) == 8 and meter.total() == 8
    assert meter.summary()["a"][0] == 0 and meter.summary()["b"][0] == 8
