"""``{name}`` substitution in prompt text and ``set`` values.

Deliberately smaller than ``str.format``: only bare variable names, ``{{``
and ``}}`` for literal braces, nothing that could reach attributes or
format specs of the values a caller typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PIECE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")


class TemplateError(ValueError):
    """The text has a brace that is neither ``{name}``, ``{{`` nor ``}}``."""


def variables_in(template: str) -> list[str]:
    """Names referenced by ``template``, in order; raises :class:`TemplateError`."""
    names: list[str] = []
    for match in _PIECE.finditer(template):
        piece = match.group(0)
        if match.group(1) is not None:
            names.append(match.group(1))
        elif piece in ("{", "}"):
            raise TemplateError(
                f"stray '{piece}' in text {template!r} (write {{{{ or }}}} for a literal brace)"
            )
    return names


def is_static(template: str) -> bool:
    """True when the text does not depend on any variable."""
    return not variables_in(template)


def render(template: str, variables: Mapping[str, str]) -> str:
    """Substitute variables; an unset variable renders as an empty string."""

    def piece(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is not None:
            return variables.get(name, "")
        return match.group(0)[0]

    return _PIECE.sub(piece, template)
