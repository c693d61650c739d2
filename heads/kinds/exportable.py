"""`--kind auto` among exportable heads: the search candidates a kind's own export rule leaves in.

Every kind's registry entry says which of its parameters leave a head no Keras layer
(`Kind.export_refusal`); `--kind auto` drops those candidates unless told otherwise, so the head it
chooses can always be exported, and says what it dropped.
"""
from __future__ import annotations

from sklearn.model_selection import ParameterGrid

from heads.kinds.registry import classifier_of, get_kind


def exportable_grids(kind: str, estimator, grids: list[dict], prefix: str = "clf__") -> tuple[list[dict], list[str]]:
    """The search grids of `kind` without the candidates it cannot export.

    Parameters
    ----------
    kind : str
        The kind's registry name.
    estimator : object
        The unfitted head the grids are searched on (its parameters fill what a grid leaves out).
    grids : list of dict
        Sub-grids in the estimator's parameter names (scikit-learn's `param_grid` list form).
    prefix : str
        The prefix of the classifier's parameters in `grids` ("clf__" for a pipeline, "" for the dense head).

    Returns
    -------
    tuple of (list of dict, list of str)
        The grids kept (a sub-grid whole when all its candidates export, else its exportable candidates
        one by one), and one line per reason a candidate was left out, with its count.
    """
    spec = get_kind(kind)
    own = classifier_of(estimator).get_params(deep=False)
    kept, dropped = [], {}
    for grid in grids:
        refusals = []
        for candidate in ParameterGrid(grid):
            params = {**own, **{name.removeprefix(prefix): value for name, value in candidate.items()}}
            refusals.append((candidate, spec.export_refusal(params)))
        if not any(reason for _, reason in refusals):
            kept.append(grid)
            continue
        for candidate, reason in refusals:
            if reason:
                dropped[reason] = dropped.get(reason, 0) + 1
            else:
                kept.append({name: [value] for name, value in candidate.items()})
    return kept, [f"{kind}: {count} candidates left out ({reason})" for reason, count in dropped.items()]
