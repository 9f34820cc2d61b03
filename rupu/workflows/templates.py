"""Templates: Jinja2's sandboxed environment with undefined references as errors.

Each template is compiled once when the workflow loads. Compiling also lists what the template reads
(`inputs.<name>`, `steps.<id>.<field>`, `item`, `loop`), so unknown names and step references are
rejected before any token is spent and step references become edges of the graph. A template that is
one `{{ expression }}` can also be evaluated to a native value (a list for `for_each`, a bool for
`when`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson

from rupu.errors import RupuError

if TYPE_CHECKING:
    from jinja2 import Template, nodes
    from jinja2.sandbox import SandboxedEnvironment

FALSE_WORDS = frozenset({"", "false", "no", "off", "0", "none", "null"})


class TemplateError(RupuError):
    """A template that does not compile (`lineno` is 1-based within the template) or fails to render."""

    def __init__(self, message: str, *, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


@dataclass(frozen=True, slots=True)
class StepRef:
    """`steps.<step>.<field>`; `field` is None when the template reads the whole `steps.<step>`;
    `key` is what it reads inside the field, when constant (`steps.call.outputs.<key>`)."""

    step: str
    field: str | None
    lineno: int
    key: str | None = None


@dataclass(slots=True)
class CompiledTemplate:
    source: str
    names: frozenset[str]
    step_refs: list[StepRef] = field(default_factory=list)
    input_refs: list[tuple[str, int]] = field(default_factory=list)
    dynamic_steps: int | None = None
    _template: Template | None = None
    _expression: Callable[..., Any] | None = None

    def render(self, context: Mapping[str, Any]) -> str:
        if self._template is None:
            return self.source
        try:
            return self._template.render(context)
        except Exception as exc:
            raise _render_error(exc) from None

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """The native value of a lone `{{ expression }}`; otherwise the rendered text."""
        if self._expression is None:
            return self.render(context)
        try:
            return self._expression(context)
        except Exception as exc:
            raise _render_error(exc) from None


def _render_error(exc: Exception) -> TemplateError:
    from jinja2 import TemplateError as JinjaError

    if isinstance(exc, JinjaError):
        return TemplateError(str(exc.message or exc))
    return TemplateError(f"{type(exc).__name__}: {exc}")


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["tojson"] = to_json
    env.filters["fromjson"] = from_json
    env.filters["shell_quote"] = shell_quote
    return env


def shell_quote(value: Any) -> str:
    """`value` as one shell word, for putting inputs and outputs into a `run` command."""
    return shlex.quote(value if isinstance(value, str) else str(value))


def to_json(value: Any, indent: int | None = None) -> str:
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(value, option=option | orjson.OPT_NON_STR_KEYS, default=str).decode()


def from_json(text: Any) -> Any:
    try:
        return orjson.loads(text if isinstance(text, str | bytes) else str(text))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"fromjson: not valid JSON ({exc})") from None


def compile_template(source: str) -> CompiledTemplate:
    """Parses `source`; raises `TemplateError` with the template line of a syntax error."""
    from jinja2 import TemplateSyntaxError, meta, nodes

    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", lineno=exc.lineno) from None
    for test in tree.find_all(nodes.Test):  # Jinja defers an unknown test under `if` to render time
        if test.name not in env.tests:
            raise TemplateError(f"No test named {test.name!r}.", lineno=test.lineno)
    try:  # an unknown filter is only found by the compiler, which both of these run
        names = frozenset(meta.find_undeclared_variables(tree))
        template = env.from_string(tree) if "{" in source else None
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "cannot compile", lineno=exc.lineno) from None
    compiled = CompiledTemplate(source=source, names=names)
    _collect_refs(tree, compiled)
    if template is None:
        return compiled  # plain text renders as itself
    compiled._template = template
    body = tree.body
    if (
        len(body) == 1
        and isinstance(body[0], nodes.Output)
        and len(body[0].nodes) == 1
        and not isinstance(body[0].nodes[0], nodes.TemplateData)
    ):
        inner = source.strip()[2:-2].strip("-").strip()
        try:
            compiled._expression = env.compile_expression(inner, undefined_to_none=False)
        except TemplateSyntaxError:
            compiled._expression = None
    return compiled


def _collect_refs(tree: nodes.Template, out: CompiledTemplate) -> None:
    from jinja2 import nodes

    parents: dict[int, nodes.Node] = {}
    stack: list[nodes.Node] = [tree]
    names: list[nodes.Name] = []
    while stack:
        node = stack.pop()
        for child in node.iter_child_nodes():
            parents[id(child)] = node
            stack.append(child)
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in ("steps", "inputs"):
            names.append(node)
    for name in names:
        parent = parents.get(id(name))
        key = _member(parent, name)
        if name.name == "inputs":
            if key is not None:
                out.input_refs.append((key, name.lineno))
            continue
        if key is None:
            out.dynamic_steps = name.lineno
            continue
        assert parent is not None
        grandparent = parents.get(id(parent))
        field_name = _member(grandparent, parent)
        inner = None
        if field_name is not None and grandparent is not None:
            inner = _member(parents.get(id(grandparent)), grandparent)
        out.step_refs.append(StepRef(key, field_name, name.lineno, inner))


def _member(parent: nodes.Node | None, child: nodes.Node) -> str | None:
    """The constant attribute or key `parent` reads from `child` (`x.a`, `x['a']`), if any."""
    from jinja2 import nodes

    if isinstance(parent, nodes.Getattr) and parent.node is child:
        return parent.attr
    if (
        isinstance(parent, nodes.Getitem)
        and parent.node is child
        and isinstance(parent.arg, nodes.Const)
        and isinstance(parent.arg.value, str)
    ):
        return parent.arg.value
    return None


def is_truthy(value: Any) -> bool:
    """`when:` semantics: native values by Python truth, text false unless it is one of
    '', false, no, off, 0, none, null (any case)."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


def items_from(value: Any) -> list[Any]:
    """What `for_each` iterates: a list as is; text as a JSON/YAML list when it starts with '[',
    otherwise one item per non-empty line."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import yaml

            try:
                parsed = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise TemplateError(
                    f"for_each rendered text that is not a valid list: {exc}"
                ) from None
            if isinstance(parsed, list):
                return parsed
            raise TemplateError("for_each rendered text starting with '[' that is not a list")
        return [line.strip() for line in text.split("\n") if line.strip()]
    if value is None:
        return []
    raise TemplateError(
        f"for_each must produce a list (got {type(value).__name__})",
    )
