"""Article files: one Markdown file per article and language, YAML front matter.

Reading is lenient about layout and strict about values; writing is
deterministic (fixed key order, always-quoted free text) so that an export,
an import of it and a second export give byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import frontmatter
import yaml

from .models import LANGUAGES, Audience, Kind, Status

# Spellings people write in front matter, mapped to the stored value.
_KIND_ALIASES = {
    "training material": Kind.TRAINING,
    "training-material": Kind.TRAINING,
    "good-practice": Kind.GOOD_PRACTICE,
    "good practice": Kind.GOOD_PRACTICE,
    "video": Kind.VIDEO_LINK,
    "video-link": Kind.VIDEO_LINK,
    "video link": Kind.VIDEO_LINK,
}


class ArticleFileError(ValueError):
    pass


@dataclass(frozen=True)
class ArticleFile:
    article: str
    language: str
    title: str
    summary: str
    audience: str
    kind: str
    topics: tuple[str, ...]
    tags: tuple[str, ...]
    plain_language: bool
    status: str
    body: str
    video_url: str = ""
    questions: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.article}.{self.language}.md"


def _str_list(value, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, list):
        raise ArticleFileError(f"{key} must be a list")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _sentences(value, key: str) -> tuple[str, ...]:
    # Unlike tags, a lone string is one sentence: its commas are part of it.
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArticleFileError(f"{key} must be a list of quoted sentences")
    return tuple(v.strip() for v in value if v.strip())


def parse(text: str) -> ArticleFile:
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise ArticleFileError(f"front matter is not valid YAML: {exc}") from exc
    meta = post.metadata
    missing = [k for k in ("article", "language", "title") if not meta.get(k)]
    if missing:
        raise ArticleFileError(f"front matter lacks {', '.join(missing)}")
    language = str(meta["language"]).strip()
    if language not in LANGUAGES:
        raise ArticleFileError(f"unknown language {language!r}")
    kind = str(meta.get("kind") or Kind.GUIDE).strip()
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in Kind.values:
        raise ArticleFileError(f"unknown kind {kind!r}")
    audience = str(meta.get("audience") or Audience.CUSTOMERS).strip()
    if audience not in Audience.values:
        raise ArticleFileError(f"unknown audience {audience!r}")
    status = str(meta.get("status") or Status.DRAFT).strip()
    if status not in Status.values:
        raise ArticleFileError(f"unknown status {status!r}")
    plain = meta.get("plain_language", False)
    if not isinstance(plain, bool):
        raise ArticleFileError("plain_language must be true or false")
    return ArticleFile(
        article=str(meta["article"]).strip(),
        language=language,
        title=str(meta["title"]).strip(),
        summary=str(meta.get("summary") or "").strip(),
        audience=audience,
        kind=kind,
        topics=_str_list(meta.get("topics"), "topics"),
        tags=_str_list(meta.get("tags"), "tags"),
        plain_language=plain,
        status=status,
        body=post.content.strip(),
        video_url=str(meta.get("video_url") or "").strip(),
        questions=_sentences(meta.get("questions"), "questions"),
    )


def read(path: Path) -> ArticleFile:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleFileError("file is not UTF-8") from exc
    return parse(text)


def _q(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar and survives any text.
    return json.dumps(value, ensure_ascii=False)


def dumps(item: ArticleFile) -> str:
    lines = [
        "---",
        f"article: {item.article}",
        f"language: {item.language}",
        f"title: {_q(item.title)}",
        f"summary: {_q(item.summary)}",
        f"audience: {item.audience}",
        f"kind: {item.kind}",
        f"topics: [{', '.join(item.topics)}]",
        f"tags: [{', '.join(_q(t) for t in item.tags)}]",
        # Sentences, so one per line; no key at all when there are none.
        *(["questions:"] if item.questions else []),
        *(f"  - {_q(question)}" for question in item.questions),
        f"plain_language: {'true' if item.plain_language else 'false'}",
        f"status: {item.status}",
    ]
    if item.video_url:
        lines.append(f"video_url: {_q(item.video_url)}")
    lines.append("---")
    return "\n".join(lines) + "\n" + item.body.strip() + "\n"
