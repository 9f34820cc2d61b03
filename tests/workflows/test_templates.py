"""Templates: sandboxed, strict about undefined names, typed values, native evaluation for
`for_each` and `when`, and the references that become graph edges."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rupu.workflows.templates import (
    StepRef,
    TemplateError,
    compile_template,
    is_truthy,
    items_from,
)


def test_references_are_collected_with_their_lines() -> None:
    compiled = compile_template(
        "{{ inputs.target }}\n{{ steps.plan.json.files | length }} {{ steps['re-view'].output }}\n"
        "{% if steps.scan %}{{ item.path }}{% endif %}"
    )
    assert compiled.names == {"inputs", "steps", "item"}
    assert compiled.input_refs == [("target", 1)]
    assert sorted(compiled.step_refs, key=lambda r: r.step) == [
        StepRef("plan", "json", 2, "files"),
        StepRef("re-view", "output", 2),
        StepRef("scan", None, 3),
    ]
    assert compiled.dynamic_steps is None
    assert compile_template("{{ steps[name] }}").dynamic_steps == 1


def test_rendering_is_strict_typed_and_sandboxed() -> None:
    context = {"inputs": {"n": 3, "tags": ["a", "b"]}, "steps": {"plan": {"json": {"x": [1]}}}}
    assert compile_template("{{ inputs.n + 1 }} {{ inputs.tags | tojson }}").render(context) == (
        '4 ["a","b"]'
    )
    assert compile_template("{{ '{\"a\": 2}' | fromjson }}").render(context) == "{'a': 2}"
    with pytest.raises(TemplateError, match="has no attribute 'missing'"):
        compile_template("{{ steps.plan.missing }}").render(context)
    with pytest.raises(
        TemplateError, match=r"access to attribute .__class__. of .str. object is unsafe"
    ):
        compile_template("{{ ''.__class__.__mro__[1].__subclasses__() }}").render(context)
    with pytest.raises(TemplateError) as caught:
        compile_template("line one\n{% if %}")
    assert caught.value.lineno == 2


def test_lone_expressions_evaluate_to_native_values() -> None:
    context = {"inputs": {"files": ["a.py", "b.py"], "on": False}, "steps": {}}
    assert compile_template("{{ inputs.files }}").evaluate(context) == ["a.py", "b.py"]
    assert compile_template("  {{- inputs.on -}} ").evaluate(context) is False
    assert compile_template("files: {{ inputs.files }}").evaluate(context) == (
        "files: ['a.py', 'b.py']"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", False),
        ("False", False),
        (" no ", False),
        ("0", False),
        ("off", False),
        ("null", False),
        ("yes", True),
        ("anything", True),
        (0, False),
        ([], False),
        ([0], True),
        (None, False),
    ],
)
def test_when_truthiness(value: object, expected: bool) -> None:
    assert is_truthy(value) is expected


def test_for_each_items() -> None:
    assert items_from("a.py\n\n  b.py \n") == ["a.py", "b.py"]
    assert items_from('["x", {"k": 1}]') == ["x", {"k": 1}]
    assert items_from("[a, b]") == ["a", "b"]
    assert items_from(("t",)) == ["t"]
    with pytest.raises(TemplateError, match="must produce a list"):
        items_from({"a": 1})


@given(st.text().filter(lambda t: "{" not in t))
def test_text_without_markup_renders_as_itself(text: str) -> None:
    assert compile_template(text).render({}) == text


@given(
    st.lists(
        st.text(min_size=1).filter(lambda t: t.strip() == t and "\n" not in t and t), max_size=8
    )
)
def test_a_rendered_list_round_trips_as_lines(items: list[str]) -> None:
    text = "\n".join(items)
    if text.strip().startswith("["):
        return
    assert items_from(text) == [i for i in items if i.strip()]


@given(st.text(alphabet=st.characters(codec="utf-8", blacklist_characters="\0")))
def test_shell_quote_makes_any_value_one_shell_word(value: str) -> None:
    rendered = compile_template("{{ v | shell_quote }}").render({"v": value})
    assert shlex.split(rendered) == [value]
