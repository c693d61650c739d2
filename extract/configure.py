"""Former entry point, kept as a thin alias while benchmarks and heads move to extract.Extractor.

`configure(...)` is `Extractor.from_options(ExtractOptions(...)).build()`: the object it returns
has the same `.config`, `.weights`, `.backbone` and `.model` as before.
"""
from __future__ import annotations

from extract.errors import OptionError  # noqa: F401 - the former home of OptionError
from extract.extractor import Extractor
from extract.options import ExtractOptions


def configure(backbone: str, weights: str = "imagenet", size: int | None = None, layer: str | None = None,
              pool: str = "none", dtype: str = "float16", preprocess: str | None = None,
              alpha: float | None = None, resize: str = "squash", augment: dict | None = None,
              mixed_precision: bool = False) -> Extractor:
    options = ExtractOptions(backbone=backbone, weights=weights, size=size, layer=layer, pool=pool, dtype=dtype,
                             preprocess=preprocess, alpha=alpha, resize=resize, augment=augment,
                             mixed_precision=mixed_precision)
    return Extractor.from_options(options).build()
