"""A griffe extension for the docs site: read our ``Example:`` sections as doctest examples.

The house style titles doctest sections ``Example:`` (singular). Griffe's Google parser knows
only ``Examples:`` as a section of ``>>>`` code and renders ``Example:`` as an admonition of
Markdown text, where doctest output such as ``[True, False]`` reads as a link. Renaming the
title before parsing makes every such section a highlighted code block; the source is untouched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
# Sphinx roles (``:func:`~pkg.name` ``) would show literally in Markdown: keep the code span.
_ROLE = re.compile(r":(?:func|class|meth|attr|mod|exc|data|obj|const|pep|rfc):`(~?)([^`]+)`")


def _code_span(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` titles to ``Examples:`` and turn Sphinx roles into code spans."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        del kwargs
        if obj.docstring is not None:
            text = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _ROLE.sub(_code_span, text)
