"""The ``skill`` adapter kind: skills with Agent Skills frontmatter, tools derived ``from`` sibling
REST/MCP adapters or read from ``instruction`` files, served as a read-only catalogue.

The kind never imports another kind: a ``from`` is resolved through the model and plans every
adapter of the file gets (``Mounted.siblings``), checked at load time (``check``), and described
at start-up. A skill adapter executes nothing, so it has no operations and no plans.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...spec.builder import ModelBuilder
from ...spec.diagnostics import DocPath, Finding
from ...spec.model import ExposedAdapter
from ...spec.shapes import Shape
from ..base import Claim, MountContext, Mounted, PortPart, RouteRow
from .documents import SKILLS_PATH, build, find_action
from .model import SkillAdapter, parse_skill

SOURCE_KINDS = ("rest", "mcp")


class SkillKind:
    type: str = "skill"
    features: frozenset[str] = frozenset({"skill"})
    reference_roots: tuple[str, ...] = ()
    shape: Shape | None = None
    """Its ``exposes`` shape is in each dialect's schema (``spec.shape_adapters``, one table for every dialect)."""
    port_alone: bool = False

    def parse(self, builder: ModelBuilder, node: dict[str, Any], at: DocPath) -> ExposedAdapter | None:
        namespace = builder.text(node, "namespace", at, required=True) or ""
        port = builder.port(node, at)
        base = builder.file.resolve().parent
        parsed = (
            parse_skill(builder, key, item, s_at, base) for key, item, s_at in builder.entries(node, "skills", at)
        )
        skills = [skill for skill in parsed if skill is not None]
        if "skills" not in node:
            builder.error(at, "missing required field 'skills'")
        names = [skill.name for skill in skills]
        for skill in skills:
            if names.count(skill.name) > 1:
                builder.error(skill.at + ("name",), f"skill '{skill.name}' is declared twice in '{namespace}'")
        return SkillAdapter(
            self.type,
            namespace,
            port,
            builder.text(node, "address", at),
            builder.text(node, "description", at),
            (),
            at,
            tuple(skills),
        )

    def check(self, mounted: Mounted) -> Iterable[Finding]:
        """Every ``from`` names a sibling REST or MCP adapter of this file and one of its operations."""
        adapter = mounted.adapter
        assert isinstance(adapter, SkillAdapter)
        sources = {ns: m for ns, m in mounted.siblings.items() if m.adapter.kind in SOURCE_KINDS}
        for skill in adapter.skills:
            for tool in skill.tools:
                source = tool.source
                if source is None:
                    continue
                sibling = sources.get(source.namespace)
                if sibling is None:
                    known = ", ".join(sorted(sources)) or "none"
                    yield Finding.error(
                        source.at + ("sourceNamespace",),
                        f"'{source.namespace}' is not a REST or MCP adapter of this file (known: {known}; D4)",
                    )
                elif find_action(sibling, source.action) is None:
                    what = "tool" if sibling.adapter.kind == "mcp" else "operation"
                    known = ", ".join(sorted(e.name for e in sibling.adapter.operations if e.name)) or "none"
                    yield Finding.error(
                        source.at + ("action",),
                        f"'{source.namespace}' has no {what} named '{source.action}' (known: {known})",
                    )

    def claims(self, adapter: ExposedAdapter, port: int) -> Iterable[Claim]:
        """D32: ``/skills`` owned whole on the port; each skill name once per port."""
        yield Claim(
            ("skills", adapter.namespace),
            adapter.at,
            f"the skill catalogue {SKILLS_PATH} (adapter '{adapter.namespace}' on port {port})",
            prefix=(SKILLS_PATH.strip("/"),),
        )
        for skill in adapter.skills if isinstance(adapter, SkillAdapter) else ():
            yield Claim(("skill", skill.name), skill.at, f"skill '{skill.name}' on port {port}")

    def mount(self, mounted: Sequence[Mounted], context: MountContext) -> PortPart:
        from .app import SkillApp

        offset = context.settings.port_offset
        documents = [
            build(skill, each.siblings, offset)
            for each in mounted
            if isinstance(each.adapter, SkillAdapter)
            for skill in each.adapter.skills
        ]
        return PortPart(SkillApp(documents), prefixes=(SKILLS_PATH,))

    def describe(self, mounted: Mounted) -> Iterable[RouteRow]:
        """A skill adapter calls nothing: ``naftiko routes`` lists only what runs a plan."""
        return ()
