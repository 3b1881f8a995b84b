"""The `{{ name }}` template renderer behind every rendered config."""

from __future__ import annotations

import pytest

from stack.template import TemplateError, placeholders, render


def test_values_replace_placeholders_and_dollar_variables_stay():
    assert render("listen {{ port }}; set $x {{port}};\n", {"port": "80"}) == "listen 80; set $x 80;\n"


def test_a_placeholder_alone_on_its_line_takes_an_indented_block():
    template = "up {\n    {{ servers }}\n}\n"
    assert render(template, {"servers": "a;\nb;"}) == "up {\n    a;\n    b;\n}\n"


def test_an_empty_block_removes_its_line():
    assert render("a\n    {{ resolver }}\nb\n", {"resolver": ""}) == "a\nb\n"


def test_missing_and_unused_values_are_errors():
    with pytest.raises(TemplateError, match="no value for b"):
        render("{{ a }} {{ b }}", {"a": "1"})
    with pytest.raises(TemplateError, match="no placeholder for c"):
        render("{{ a }}", {"a": "1", "c": "2"})
    assert placeholders("{{a}} {{ b }} {{a}}") == {"a", "b"}
