"""A pydantic ValidationError as the (field, message) pairs a user can act on: the
dotted path of the field they wrote (``body.messages[0].content``), without the union
branches and discriminator tags pydantic tried, and only the deepest error of a union."""

from __future__ import annotations

from typing import Final

from pydantic import ValidationError

# Loc parts pydantic adds for union branches and discriminator tags; they mean nothing
# to a user looking for the field they wrote.
_BRANCH_NAMES: Final = frozenset(
    {
        "str",
        "int",
        "float",
        "bool",
        "list",
        "dict",
        "none",
        "message",
        "other",
        "input_text",
        "input_image",
        "input_file",
        "output_text",
        "refusal",
    }
)


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif "[" in part or "(" in part or part in _BRANCH_NAMES:
            continue
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def describe_validation_error(exc: ValidationError, *, prefix: str = "") -> list[tuple[str, str]]:
    """(field, message) pairs, keeping only the deepest error of each union."""
    found: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        field = _field_path(tuple(err["loc"]))
        if prefix:
            field = f"{prefix}.{field}" if field else prefix
        found.setdefault(field, err["msg"])
    # A union reports one error per branch: "input" (not a string) and
    # "input[0].content" (the real problem). Drop a field when a deeper one exists.
    fields = sorted(found)
    return [
        (f, found[f])
        for f in fields
        if not any(o != f and (o.startswith(f + ".") or o.startswith(f + "[")) for o in fields)
    ]
