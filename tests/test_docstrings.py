"""Every public name of the Python API (the `__all__` of extract, store and heads) is documented numpy-style:
a Parameters section naming each parameter it takes, a Returns (or Yields) section when it returns something,
and the API reference page renders it (docs/reference.md; tests/test_docs.py builds the site strictly).

"Returns something" is read from the return annotation, or, without one, from the code: a `return` with a
value or a `yield` in the function's own body.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap

import pytest

from tests.conftest import REPO

PACKAGES = ("extract", "store", "heads")
SECTION = r"^{name}\s*\n-{{3,}}[ \t]*$"


def public_names() -> list[tuple[str, str]]:
    return [(package, name) for package in PACKAGES for name in importlib.import_module(package).__all__]


def section(doc: str, name: str) -> str | None:
    """The text of a numpy-style section (up to the next section), or None when the docstring has none."""
    found = re.search(SECTION.format(name=name), doc, re.M)
    if not found:
        return None
    rest = doc[found.end():]
    following = re.search(r"^\S[^\n]*\n-{3,}[ \t]*$", rest, re.M)
    return rest[:following.start()] if following else rest


def documented_parameters(text: str) -> set[str]:
    """Names at the start of a Parameters entry: `name : type`, `a, b : type`, `a, b` (described together)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line and not line[0].isspace():
            names.update(part.strip().lstrip("*") for part in line.split(" : ")[0].split(","))
    return names


def parameters(obj) -> list[str]:
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # an exception class: the builtin __init__ (a message)
        return []
    return [name for name, p in signature.parameters.items()
            if name not in ("self", "cls") and not name.startswith("_")]


def _body_returns(node: ast.AST) -> bool:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue  # a nested function's return is not this one's
        if isinstance(child, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(child, ast.Return) and child.value is not None and \
                not (isinstance(child.value, ast.Constant) and child.value.value is None):
            return True
        if _body_returns(child):
            return True
    return False


def returns_something(function) -> bool:
    annotation = inspect.signature(function).return_annotation
    if annotation is not inspect.Signature.empty:
        return annotation not in (None, "None")
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return _body_returns(tree.body[0])


def missing_sections(obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    missing = []
    wanted = parameters(obj)
    if wanted:
        text = section(doc, "Parameters")
        if text is None:
            missing.append("a Parameters section")
        else:
            absent = [name for name in wanted if name not in documented_parameters(text)]
            if absent:
                missing.append(f"parameters {', '.join(absent)} in its Parameters section")
    if inspect.isfunction(obj) and returns_something(obj) and \
            section(doc, "Returns") is None and section(doc, "Yields") is None:
        missing.append("a Returns section")
    return missing


@pytest.mark.parametrize("package, name", public_names(), ids=[f"{p}.{n}" for p, n in public_names()])
def test_every_public_name_documents_its_parameters_and_returns(package, name):
    obj = getattr(importlib.import_module(package), name)
    if inspect.ismodule(obj):
        assert (obj.__doc__ or "").strip(), f"module {package}.{name} has no docstring"
        return
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return  # a constant (heads.KINDS): documented where it is defined
    assert (inspect.getdoc(obj) or "").strip(), f"{package}.{name} has no docstring"
    missing = missing_sections(obj)
    assert not missing, f"{package}.{name} ({obj.__module__}) lacks {'; '.join(missing)}"


def rendered_by(target: str, obj) -> bool:
    """Whether `::: target` renders `obj`: it names the object itself, or the module that defines it
    (mkdocstrings renders a module's own public members)."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
        if found is obj or (inspect.ismodule(found) and found.__name__ == obj.__module__):
            return True
        return False
    return False


def test_every_public_name_is_in_the_api_reference():
    """docs/reference.md renders every public function and class (the site is built strictly by test_docs)."""
    page = (REPO / "docs" / "reference.md").read_text(encoding="utf-8")
    targets = re.findall(r"^::: ([\w.]+)\s*$", page, re.M)
    absent = []
    for package, name in public_names():
        obj = getattr(importlib.import_module(package), name)
        if inspect.ismodule(obj) or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if not any(rendered_by(target, obj) for target in targets):
            absent.append(f"{package}.{name} ({obj.__module__})")
    assert not absent, f"not in docs/reference.md: {', '.join(absent)}"


def test_the_checker_finds_what_is_missing():
    def documented(a, b=1):
        """Do a thing.

        Parameters
        ----------
        a, b : int
            Numbers.

        Returns
        -------
        int
        """
        return a + b

    def half(a, c):
        """Do a thing.

        Parameters
        ----------
        a : int
            A number.
        """
        if a:
            return c

    def nothing(a) -> None:
        """Nothing returned.

        Parameters
        ----------
        a : int
        """

    def bare():
        """No parameters, returns nothing."""
        def inner():
            return 1
        inner()

    assert missing_sections(documented) == [] and missing_sections(nothing) == [] and missing_sections(bare) == []
    assert missing_sections(half) == ["parameters c in its Parameters section", "a Returns section"]
    assert documented_parameters("x : int\n    text\n*args, y\n    more\n") == {"x", "args", "y"}
