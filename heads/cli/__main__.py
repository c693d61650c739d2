"""`python -m heads.cli`: the heads CLI without its console script (e.g. from a checkout)."""
from heads.cli import app

app()
