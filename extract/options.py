"""What a user asks for, in two objects: ExtractOptions decide a configuration (the numbers),
RunOptions decide how a run is done (batches, engine, slices), never the numbers; how the data
folder is read as a dataset (labels, splits, name) is its DataOptions (extract.sources.options).

The CLI builds these from its flags (same names), a notebook builds them directly. Every value
that can be refused without reading an image is refused here, in one line.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from extract.backbones import get_backbone
from extract.errors import OptionError
from extract.model import DTYPES, POOLING_MODES, RESIZE_MODES
from extract.runtimes.names import check_runtime_name
from extract.sources.options import DataOptions
from extract.weights import PREPROCESS_MODES

# Input sizes a run accepts: below 32 no ImageNet base has a spatial map left; above 4096 one batch
# of images alone needs gigabytes (a typo such as --size 100000 asks for terabytes).
MIN_SIZE, MAX_SIZE = 32, 4096


def check_choice(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionError(f"Unknown {name} {value!r}. Allowed: {', '.join(allowed)}")


@dataclass(frozen=True)
class ExtractOptions:
    """Everything that changes the features, as the user gives it (weights by name or path).

    Parameters
    ----------
    backbone : str
        A backbone of the registry (`extract backbones`).
    weights : str, default "imagenet"
        imagenet (Keras's download, or BOTTLENECK_WEIGHTS_DIR offline), none, or a Keras no-top weights file.
    size : int, optional
        Input size in pixels (default: the weights' manifest, else the backbone's default size).
    layer : str, optional
        The layer features are read from (default: the last block's end).
    pool : str, default "none"
        Pooling over the feature map: none, avg or max.
    dtype : str, default "float16"
        Storage precision.
    preprocess : str, optional
        Preprocessing mode (default: the weights' own).
    alpha : float, optional
        Width multiplier of MobileNets (default: the weights' manifest, else 1.0).
    resize : str, default "squash"
        How an image is brought to `size`.
    augment : dict, optional
        One augmented or test-time view (AugmentSpec.for_view, FixedView.augment).
    mixed_precision : bool, default False
        Compute in mixed_float16 (GPU): a configuration of its own.
    quantize : str, optional
        "int8": an int8 base calibrated on the train split, a configuration of its own (docs/runtimes.md).
    """

    backbone: str
    weights: str = "imagenet"  # imagenet | none | a Keras no-top weights file
    size: int | None = None  # the backbone's default size when None
    layer: str | None = None  # the last block's end when None
    pool: str = "none"
    dtype: str = "float16"  # storage precision
    preprocess: str | None = None  # the weights' own preprocessing when None
    alpha: float | None = None
    resize: str = "squash"
    augment: dict | None = None  # one view of extract.augment (AugmentSpec.for_view)
    mixed_precision: bool = False  # compute in mixed_float16 (GPU); a configuration of its own
    quantize: str | None = None  # "int8": an int8 base calibrated on the train split (extract.runtimes.int8)

    def check(self) -> None:
        spec = get_backbone(self.backbone)
        if self.quantize is not None:
            check_choice("quantization", self.quantize, ("int8",))
            if self.mixed_precision:
                raise OptionError("--quantize int8 runs the base in int8 on CPUs; --mixed-precision is for GPUs. "
                                  "Received: both")
        check_choice("pooling", self.pool, POOLING_MODES)
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("resize mode", self.resize, RESIZE_MODES)
        if self.preprocess is not None:
            check_choice("preprocessing", self.preprocess, PREPROCESS_MODES)
        if self.alpha is not None and not spec.has_alpha:
            raise OptionError(f"Backbone {self.backbone} has no width multiplier. Received: --alpha {self.alpha}")
        if self.size is not None and not max(spec.min_size, MIN_SIZE) <= int(self.size) <= MAX_SIZE:
            raise OptionError(f"--size must be {max(spec.min_size, MIN_SIZE)} to {MAX_SIZE} pixels for "
                              f"backbone {self.backbone}. Received: {self.size}")
        if self.augment is not None and not isinstance(self.augment, dict):
            raise OptionError(f"augment is one view's dict (AugmentSpec.for_view). Received: {self.augment!r}")

    @property
    def compute(self) -> str:
        return "mixed_float16" if self.mixed_precision else "float32"


@dataclass(frozen=True)
class RunOptions:
    """How a run is done: none of these changes a feature value.

    Parameters
    ----------
    batch_size : int, default 32
        Images per batch through the base.
    data : DataOptions, optional
        How the data folder is read (default: as the store recorded it for the dataset, else DataOptions()).
    strict : bool, default False
        Fail on a file that cannot be used instead of recording it.
    shard_size : int, default 256
        Images per shard file.
    xla : bool, optional
        XLA compilation (default: per backbone, as measured).
    engine : str, default "local"
        local or ray.
    shard : str, optional
        "i/n": one deterministic slice of the work (then `extract merge`).
    address, workers, gpus_per_worker, cpus_per_worker, max_retries : optional
        The Ray engine's cluster address, workers, resources per worker and retries (docs/distributed.md).
    splits : sequence of str, optional
        Only these splits (and only them in the index).
    rehash : bool, default False
        Read and hash every file, trusting no recorded file version.
    max_image_mb : float, default 512
        Larger files are rejected unread.
    runtime : str, default "tensorflow"
        What runs the base (tensorflow, onnxruntime, auto...; docs/runtimes.md).
    decode_workers : int, optional
        Decode processes (0: in process); default: chosen per runtime (extract.pipeline).
    """

    batch_size: int = 32
    # How the data folder is read (name, layout, labels, splits). None: as the store recorded it for
    # the dataset of that name (another backbone gets the same rows), else DataOptions' defaults.
    data: DataOptions | None = None
    strict: bool = False
    shard_size: int = 256
    xla: bool | None = None  # per backbone, as measured, when None
    engine: str = "local"
    shard: str | None = None  # "i/n": one slice of the work (then `extract merge`)
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    cpus_per_worker: float | None = None
    max_retries: int | None = None
    splits: tuple[str, ...] | list[str] | None = None  # only these splits (and only them in the index)
    rehash: bool = False  # read and hash every file, trusting no recorded file version (store.stat_cache)
    max_image_mb: float = 512  # larger files are rejected unread
    runtime: str = "tensorflow"  # what runs the base (extract.runtimes.choice); "auto" picks per run
    decode_workers: int | None = None  # decode processes (0: in process); None: extract.pipeline's choice

    def __post_init__(self) -> None:
        if self.data is not None and not isinstance(self.data, DataOptions):
            raise OptionError(f"RunOptions.data is a DataOptions. Received: {type(self.data).__name__}")
        if isinstance(self.max_image_mb, bool) or not isinstance(self.max_image_mb, (int, float)) \
                or not self.max_image_mb > 0:
            raise OptionError(f"max_image_mb must be a positive number of megabytes. Received: {self.max_image_mb!r}")
        if self.batch_size < 1 or self.shard_size < 1:
            raise OptionError(f"batch_size and shard_size must be positive. "
                              f"Received: {self.batch_size}, {self.shard_size}")

        check_runtime_name(self.runtime)
        from extract.feeder import check_decode_workers

        check_decode_workers(self.decode_workers)

    def engine_options(self) -> dict:
        return {"address": self.address, "workers": self.workers, "gpus_per_worker": self.gpus_per_worker,
                "cpus_per_worker": self.cpus_per_worker, "max_retries": self.max_retries}


# The DataOptions field names: `extract run` passes these of its flags into RunOptions.data.
DATA_FIELDS = frozenset(f.name for f in fields(DataOptions))
