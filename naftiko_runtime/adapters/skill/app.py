"""The skill catalogue over HTTP, read-only, under ``/skills`` (the reference engine's routes):

- ``GET /skills``: every skill with its description and tool names (``count``, ``skills``);
- ``GET /skills/{name}``: the skill's frontmatter fields and tools (JSON);
- ``GET /skills/{name}/SKILL.md``: the Agent Skills document (YAML frontmatter + Markdown);
- ``GET /skills/{name}/contents`` and ``.../contents/{path}``: the instruction files read at load
  time, then the files of the skill's ``location`` folder (plain path segments only, nothing
  outside the folder once symlinks are resolved);
- ``GET /skills/{name}/download``: all of it as a ZIP archive (``SKILL.md`` first), the folder a
  framework installs a skill from.

Documents are built at start-up; only a folder's files are read per request.
"""

from __future__ import annotations

import io
import mimetypes
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import orjson
from starlette.types import Receive, Scope, Send

from ...core.problems import Problem
from ..asgi import send_problem, send_response
from .documents import SKILLS_PATH, SkillDocuments, catalogue_entry

SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")
MAX_FILE = 10 << 20


def _type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or ("text/markdown" if name.endswith(".md") else "application/octet-stream")


class SkillApp:
    def __init__(self, skills: Sequence[SkillDocuments]):
        self.skills = {documents.skill.name: documents for documents in skills}
        entries = [catalogue_entry(documents) for documents in skills]
        self.catalogue = orjson.dumps({"count": len(entries), "skills": entries})
        self.details = {name: orjson.dumps(documents.detail) for name, documents in self.skills.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        head = scope["method"] == "HEAD"
        if scope["method"] not in ("GET", "HEAD"):
            await send_problem(send, Problem(405, "the skill catalogue is read-only", headers={"Allow": "GET, HEAD"}))
            return
        try:
            body, content_type = self.answer(path[len(SKILLS_PATH) :].strip("/"))
        except Problem as problem:
            await send_problem(send, problem, path)
            return
        await send_response(send, 200, body, content_type, head=head)

    def answer(self, rest: str) -> tuple[bytes, str]:
        if not rest:
            return self.catalogue, "application/json"
        name, _, below = rest.partition("/")
        documents = self.skills.get(name)
        if documents is None:
            raise Problem(404, f"no skill named '{name}'; see {SKILLS_PATH}")
        if not below:
            return self.details[name], "application/json"
        if below == "SKILL.md":
            return documents.markdown.encode(), "text/markdown; charset=utf-8"
        if below == "contents":
            return orjson.dumps({"name": name, "files": self.listing(documents)}), "application/json"
        if below == "download":
            return self.archive(documents), "application/zip"
        if below.startswith("contents/"):
            return self.file(documents, below[len("contents/") :])
        raise Problem(404, f"nothing at {SKILLS_PATH}/{rest}")

    def listing(self, documents: SkillDocuments) -> list[dict[str, object]]:
        files = {path: len(data) for path, data in documents.files.items()}
        folder = documents.skill.folder
        if folder is not None:
            inside = (p for p in folder.rglob("*") if p.is_file() and p.resolve().is_relative_to(folder))
            for file in sorted(inside)[:1000]:
                files.setdefault(file.relative_to(folder).as_posix(), file.stat().st_size)
        return [{"path": path, "size": size, "type": _type(path)} for path, size in sorted(files.items())]

    def archive(self, documents: SkillDocuments) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{documents.skill.name}/SKILL.md", documents.markdown)
            for entry in self.listing(documents):
                path = str(entry["path"])
                if path != "SKILL.md":
                    archive.writestr(f"{documents.skill.name}/{path}", self.file(documents, path)[0])
        return buffer.getvalue()

    def file(self, documents: SkillDocuments, relative: str) -> tuple[bytes, str]:
        if relative in documents.files:
            return documents.files[relative], _type(relative)
        folder = documents.skill.folder
        missing = Problem(404, f"skill '{documents.skill.name}' has no file '{relative}'")
        if folder is None or not all(SAFE_SEGMENT.match(s) and s not in (".", "..") for s in relative.split("/")):
            raise missing
        target = (folder / relative).resolve()
        if not target.is_relative_to(folder) or not target.is_file():
            raise missing
        if target.stat().st_size > MAX_FILE:
            raise Problem(413, f"'{relative}' is larger than {MAX_FILE} bytes")
        return Path(target).read_bytes(), _type(target.name)
