"""The augmentation options of `extract run --views` and `heads finetune`: declared once, with
AugmentSpec's defaults, so the views cached and the views trained on are described alike."""
from __future__ import annotations

from typing import Annotated

import typer

from extract.augment import AugmentSpec

DEFAULT = AugmentSpec()

Flip = Annotated[bool, typer.Option(help="Augmentation: random horizontal flips.")]
Rotation = Annotated[float, typer.Option(help="Augmentation: rotation range, fraction of a full turn.")]
Zoom = Annotated[float, typer.Option(help="Augmentation: zoom range (scale 1 +/- zoom).")]
Shift = Annotated[float, typer.Option(help="Augmentation: shift range, fraction of the size.")]
