"""`loop` steps at load time: their steps are loaded like a workflow's own (the same checks, contracts,
templates and graph), in a document rooted at the `loop:` list so every error keeps its file:line.

The step model is `rupu.workflows.spec.LoopStep` (its steps are `Step`s, so it lives beside the union);
what each iteration sees and how it runs is `rupu.workflows.nesting`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

import yaml

from rupu.workflows.kinds.checks import StepCheck
from rupu.workflows.spec import LoopStep, Step
from rupu.workflows.templates import CompiledTemplate
from rupu.yamldoc import YamlDoc

Located = list[tuple[list[str | int], CompiledTemplate]]


def check_loop(step: LoopStep, check: StepCheck, outer_ids: Collection[str]) -> None:
    if not step.loop:
        raise check.fail("loop", "`loop` lists no steps", "add the steps to repeat under `loop:`")
    for key in ("timeout", "retries", "cache"):
        if getattr(step, key) is not None:
            raise check.fail(
                key, f"`{key}` does not apply to a loop step", "set it on the steps inside the loop"
            )
    for position, inner in enumerate(step.loop):
        if inner.id in outer_ids:
            raise check.fail_at(
                ["loop", position, "id"],
                f"step '{inner.id}' inside loop '{step.id}' has the id of a step of the workflow",
                "rename one of them: inside the loop, steps.<id> reads the loop's own step",
                prefixed=False,
            )
        if inner.approval is not None and inner.approval.required:
            raise check.fail_at(
                ["loop", position, "approval"],
                f"step '{inner.id}' inside loop '{step.id}' cannot wait for an approval",
                "put the approval gate before or after the loop",
                prefixed=False,
            )


def body_doc(doc: YamlDoc, loc: Sequence[str | int]) -> YamlDoc:
    """The document of the loop's steps: `["steps", i, ...]` in it is `[*loc, i, ...]` in `doc`."""
    node, _ = doc.node(loc)
    assert node is not None  # the loop validated, so its list is there
    key = yaml.ScalarNode("tag:yaml.org,2002:str", "steps", node.start_mark, node.end_mark)
    root = yaml.MappingNode("tag:yaml.org,2002:map", [(key, node)], node.start_mark, node.end_mark)
    return dataclasses.replace(doc, root=root)


def outer_reads(
    loop_loc: Sequence[str | int], inner_ids: Collection[str], located: Located
) -> Located:
    """The templates of the loop's steps (located in the loop's own document) that read steps outside
    the loop, located in the workflow's document and keeping only those reads: the loop step is
    scheduled after those steps, with the same checks as any step's own templates."""
    found: Located = []
    for loc, compiled in located:
        outside = [ref for ref in compiled.step_refs if ref.step not in inner_ids]
        if outside or compiled.input_refs:
            found.append(
                (
                    [*loop_loc, *loc[1:]],
                    dataclasses.replace(compiled, step_refs=outside, dynamic_steps=None),
                )
            )
    return found


def inner_ids(step: LoopStep) -> list[str]:
    return [inner.id for inner in step.loop]


def loop_steps(steps: Sequence[Step]) -> list[tuple[int, LoopStep]]:
    return [(index, step) for index, step in enumerate(steps) if isinstance(step, LoopStep)]
