"""Telegram's HTML parse mode, as the fake Bot API applies it: text plus entities, or an error.

Error descriptions follow the real server's ("Unsupported start tag "x" at byte offset N",
"Can't find end tag corresponding to start tag "b"", ...), prefixed by the caller with
"Bad Request: can't parse entities: ".
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}


_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityError(ValueError):
    """The HTML cannot be parsed; `args[0]` is Telegram's description of why."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's entity offsets and text limits."""
    return len(text.encode("utf-16-le")) // 2


class _Parser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)
        self._source = source
        self._line_starts = [0]
        for index, char in enumerate(source):
            if char == "\n":
                self._line_starts.append(index + 1)
        self.parts: list[str] = []
        self.length = 0  # UTF-16 units emitted so far
        self.stack: list[tuple[str, dict[str, Any]]] = []
        self.entities: list[dict[str, Any]] = []

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        index = self._line_starts[line - 1] + column
        return len(self._source[:index].encode("utf-8"))

    def _fail(self, description: str) -> None:
        raise EntityError(description)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        entity: dict[str, Any]
        if tag in _SIMPLE_TAGS:
            kind = _SIMPLE_TAGS[tag]
            if kind == "blockquote" and "expandable" in attributes:
                kind = "expandable_blockquote"
            entity = {"type": kind}
        elif tag == "span" and attributes.get("class") == "tg-spoiler":
            entity = {"type": "spoiler"}
        elif tag == "span":
            self._fail(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self._byte_offset()}'
            )
            return
        elif tag == "a":
            href = attributes.get("href") or ""
            entity = {"type": "text_link", "url": href}
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": attributes.get("emoji-id", "")}
        else:
            self._fail(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
            return
        if tag == "code" and self.stack and self.stack[-1][0] == "pre":
            language = (attributes.get("class") or "").removeprefix("language-")
            if language:
                self.stack[-1][1]["language"] = language
        entity["offset"] = self.length
        self.stack.append((tag, entity))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._fail(f'Unsupported start tag "{tag}/" at byte offset {self._byte_offset()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            self._fail(f"Unexpected end tag at byte offset {self._byte_offset()}")
            return
        open_tag, entity = self.stack.pop()
        if open_tag != tag:
            self._fail(
                f"Unmatched end tag at byte offset {self._byte_offset()}, "
                f'expected "</{open_tag}>", found "</{tag}>"'
            )
            return
        entity["length"] = self.length - entity["offset"]
        if entity["length"] > 0 and not (tag == "code" and self._inside_pre()):
            self.entities.append(entity)

    def _inside_pre(self) -> bool:
        return any(open_tag == "pre" for open_tag, _ in self.stack)

    def handle_data(self, data: str) -> None:
        if "<" in data:  # escaped text arrives as entity references, so this is a stray tag
            self._fail(f"Unclosed start tag at byte offset {self._byte_offset()}")
        self._emit(data)

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def handle_entityref(self, name: str) -> None:
        # Telegram knows these four named entities; anything else stays as typed.
        self._emit(_NAMED.get(name, f"&{name};"))

    def handle_charref(self, name: str) -> None:
        try:
            code = int(name[1:], 16) if name[:1] in ("x", "X") else int(name)
            self._emit(chr(code))
        except (ValueError, OverflowError):
            self._emit(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self._fail(f'Unsupported start tag "!--" at byte offset {self._byte_offset()}')

    def handle_decl(self, decl: str) -> None:
        self._fail(f'Unsupported start tag "!" at byte offset {self._byte_offset()}')

    def handle_pi(self, data: str) -> None:
        self._fail(f'Unsupported start tag "?" at byte offset {self._byte_offset()}')

    def unknown_decl(self, data: str) -> None:
        self._fail(f'Unsupported start tag "!" at byte offset {self._byte_offset()}')


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """The plain text and entities Telegram derives from `source`, or EntityError."""
    parser = _Parser(source)
    parser.feed(source)
    parser.close()
    if parser.stack:
        tag = parser.stack[-1][0]
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{tag}"')
    entities = sorted(parser.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(parser.parts), entities
