"""The augmentation options of `extract run --views` and `heads finetune`: declared once, with
AugmentSpec's defaults, so the views cached and the views trained on are described alike."""
from __future__ import annotations

from typing import Annotated

import typer

from extract.augment import AugmentSpec

DEFAULT = AugmentSpec()
PANEL = "Views"  # the help panel these options are shown in

Flip = Annotated[bool, typer.Option(rich_help_panel=PANEL, help="Augmentation: random horizontal flips.")]
Rotation = Annotated[float, typer.Option(rich_help_panel=PANEL, help="Augmentation: rotation range, fraction of a full turn.")]
Zoom = Annotated[float, typer.Option(rich_help_panel=PANEL, help="Augmentation: zoom range (scale 1 +/- zoom).")]
Shift = Annotated[float, typer.Option(rich_help_panel=PANEL, help="Augmentation: shift range, fraction of the size.")]
