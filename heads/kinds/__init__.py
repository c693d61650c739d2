"""The kinds of head: the registry and the estimators it builds (all scikit-learn estimators)."""
