"""The exception tree drawn in contract/errors.py's docstring is the one defined there: every
class drawn exists in that module with the drawn parent (and the ``+ X`` bases), and every
RespqError anywhere in the respq package is defined there and drawn. The exceptions that
never leave respq are named in the docstring's "Not drawn" paragraph, and nothing else."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator

import respq
from respq.contract import errors
from respq.contract.errors import RespqError

# One class a line: the tree's lines and corners, the class, then `+ Base` per other base.
DRAWN = re.compile(r"^(?P<lead>[ │├└─]*)(?P<name>[A-Z]\w*)(?P<also>(?: \+ [A-Z]\w*)*)(?:\s|$)")


def drawing(doc: str) -> dict[str, tuple[str, ...]]:
    """Class name → the names of its bases, as the tree in ``doc`` draws them (the root's
    base is Exception)."""
    lines = doc.split("\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    drawn: dict[str, tuple[str, ...]] = {}
    above: list[tuple[int, str]] = []  # (column, name) of the open branches
    for line in lines:
        found = DRAWN.match(line)
        assert found, f"not a line of the tree: {line!r}"
        column, name = len(found["lead"]), found["name"]
        while above and above[-1][0] >= column:
            above.pop()
        parent = above[-1][1] if above else "Exception"
        drawn[name] = (parent, *found["also"].split(" + ")[1:])
        above.append((column, name))
    return drawn


def mismatches(doc: str, module: object) -> list[str]:
    """Where the drawing and the module's classes disagree."""
    wrong = []
    for name, bases in drawing(doc).items():
        cls = getattr(module, name, None)
        if not (inspect.isclass(cls) and cls.__module__ == errors.__name__):
            wrong.append(f"{name} is drawn but not defined in {errors.__name__}")
            continue
        defined = tuple(base.__name__ for base in cls.__bases__)
        if defined != bases:
            wrong.append(f"{name} is drawn under {bases} but derives from {defined}")
    return wrong


def respq_modules() -> Iterator[str]:
    """Every module of the installed package but the ``__main__`` entry points."""
    for found in pkgutil.walk_packages(respq.__path__, "respq."):
        if not found.name.endswith("__main__"):
            yield found.name


def exceptions_defined_in_respq() -> set[type[BaseException]]:
    defined = set()
    for name in respq_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
            ):
                defined.add(value)
    return defined


def test_the_drawing_is_the_classes_defined_in_contract_errors() -> None:
    doc = errors.__doc__ or ""
    assert mismatches(doc, errors) == []
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, RespqError)
    }
    assert defined == set(drawing(doc))


def test_every_respq_error_is_defined_in_contract_errors_and_drawn() -> None:
    drawn = drawing(errors.__doc__ or "")
    found = [e for e in exceptions_defined_in_respq() if issubclass(e, RespqError)]
    assert {e.__module__ for e in found} == {errors.__name__}
    assert {e.__name__ for e in found} == set(drawn)


def test_the_exceptions_outside_the_tree_are_those_that_never_leave_respq() -> None:
    named = set(re.findall(r"\b_?[A-Z]\w+", (errors.__doc__ or "").split("Not drawn:", 1)[1]))
    internal = [e for e in exceptions_defined_in_respq() if not issubclass(e, RespqError)]
    # Named itself, or a subclass of one named (the validator's _TooDeep of _LineProblem).
    unnamed = [
        f"{e.__module__}.{e.__name__}"
        for e in internal
        if not named & {c.__name__ for c in e.__mro__}
    ]
    assert internal and unnamed == []


def test_the_check_sees_a_wrong_drawing() -> None:
    doc = (
        "The tree:\n\n"
        "RespqError          base\n"
        " ├── BatchTimeout   drawn without its second base\n"
        " ├── NotFound       drawn under the wrong parent\n"
        " │    └── Gone      drawn but never defined\n"
        " └── ApiError       right\n"
    )
    assert mismatches(doc, errors) == [
        "BatchTimeout is drawn under ('RespqError',) but derives from "
        "('RespqError', 'TimeoutError')",
        "NotFound is drawn under ('RespqError',) but derives from ('ApiError',)",
        "Gone is drawn but not defined in respq.contract.errors",
    ]
