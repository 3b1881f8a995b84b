"""A minimal `{{ name }}` template renderer (pure), so that nginx's own `$variables` stay untouched.

A placeholder alone on its line takes a multi-line value, each line indented like the placeholder;
an empty value removes that line. Every placeholder must get a value and every value must be used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_LINE_PLACEHOLDER = re.compile(r"^([ \t]*)\{\{\s*(\w+)\s*\}\}[ \t]*\n", re.MULTILINE)


class TemplateError(ValueError):
    """A placeholder without a value, or a value without a placeholder."""


def placeholders(template: str) -> set[str]:
    """The names the template asks for."""
    return set(_PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill every placeholder of `template` from `values`."""
    wanted = placeholders(template)
    if missing := sorted(wanted - values.keys()):
        raise TemplateError(f"no value for {', '.join(missing)}")
    if unused := sorted(values.keys() - wanted):
        raise TemplateError(f"the template has no placeholder for {', '.join(unused)}")
    text = _LINE_PLACEHOLDER.sub(lambda m: _indented(values[m.group(2)], m.group(1)), template)
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _indented(value: str, indent: str) -> str:
    return "".join(f"{indent}{line}\n" if line else "\n" for line in value.splitlines())
