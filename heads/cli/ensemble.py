"""`heads ensemble`: several heads on the same classes made one head (thin over heads.ensemble)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from heads.cli.common import HANDLED, console, fail, number, print_notes, stage_printer
from heads.kinds.ensemble import METHODS
from heads.kinds.folds import out_of_fold

Method = Enum("Method", {name: name for name in METHODS}, type=str)


def ensemble(
    head: Annotated[list[str], typer.Option(help="A member head: folder, or head id with --store (repeatable).")],
    store: Annotated[Optional[Path], typer.Option(help="Feature store of the heads.", show_default="the first head's own")] = None,
    method: Annotated[Method, typer.Option(help="mean: average the heads' probabilities; stack: a logistic regression on their out-of-fold probabilities of the train split.")] = Method.mean,
    cv: Annotated[int, typer.Option(help="stack: folds of the train split.")] = 5,
    seed: Annotated[int, typer.Option(help="stack: seed of the folds.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Head folder.", show_default="STORE/heads/<head-id>")] = None,
) -> None:
    """Combine heads on the same classes (compared by name) into one head: listed, evaluated, predicted and
    exported like the others."""
    from heads.ensemble import ensemble_heads

    try:
        result = ensemble_heads(head, store=store, method=method.value, cv=cv, seed=seed, out=out,
                                on_stage=stage_printer)
    except HANDLED as error:
        fail(error)
        return
    record = result.record
    table = Table(title=f"heads ensemble: {record['head_id']}", show_header=False, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("folder", str(result.folder))
    table.add_row("method", record["params"]["method"])
    for member in record["members"]:
        validation = member["metrics"].get("validation", {})
        table.add_row(f"member {member['head_id']}", f"{member['kind']} on {' + '.join(member['inputs'])} "
                                                     f"(validation accuracy {number(validation.get('accuracy'))})")
    if record["search"]:
        search = record["search"]
        table.add_row("stacking", f"{out_of_fold(search)} on the train split: members "
                                  f"{', '.join(f'{a:.4f}' for a in search['member_oof_accuracy'])}, mean "
                                  f"{search['mean_oof_accuracy']:.4f}, stacked {search['stack_cv_accuracy']:.4f}")
    for split, summary in record["metrics"].items():
        table.add_row(f"{split} ({summary['n']})", f"accuracy {number(summary['accuracy'])}   "
                                                   f"log loss {number(summary['log_loss'])}")
    console.print(table)
    print_notes(result.notes)
