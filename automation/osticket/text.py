"""Text as osTicket 1.18.1 keeps it, as its reader sees it, and what it cannot keep.

One normalisation, ``shown``, for both sides of every comparison (the verifier, the run ledger, the report, the
mail check): a value is reduced to the text a reader sees, then its whitespace runs become one space.

How osTicket 1.18.1 stores text (measured on a local 1.18.1 through each channel; the code is
include/class.thread.php and include/class.format.php):

- a plain-text thread entry (ticket API, e-mail) has format ``text`` and is kept HTML-escaped
  (``TextThreadEntryBody::getClean``: ``Format::htmlchars``, i.e. ``htmlspecialchars`` without double encoding),
  so ``"`` is stored ``&quot;``; a rich-text entry (Support Center, every staff-panel text: reply, note, an
  action's comment) has format ``html``;
- a note's title is kept HTML-escaped (``Format::sanitize($title, true)``); a subject as decoded text
  (``TextboxField::parse``: ``strip_tags(htmlspecialchars_decode(...))``), shown through ``htmlchars``, so a
  character reference in it is read as the character;
- blank lines are collapsed, the ends trimmed, e-mail line ends become LF, HTML whitespace collapses: only
  whitespace runs are compared, never their exact form.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any, Literal

Format = Literal["html", "text", "plain"]

_BREAKS = {"br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
           "hr", "table", "ul", "ol"}
# Character references osTicket and a browser read as characters: named (with ";"), decimal, hexadecimal.
_REFERENCE = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;)")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.breaks: list[bool] = []  # which parts are a block element's break (`paragraphs` keeps them)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BREAKS:
            self.parts.append(" ")
            self.breaks.append(True)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.breaks.append(False)


def normal(text: str | None) -> str:
    """Whitespace runs (spaces, tabs, CR and LF, no-break and other Unicode spaces) made one space, ends trimmed."""
    return " ".join((text or "").split())


def _references(text: str) -> str:
    return _REFERENCE.sub(lambda m: html.unescape(m.group(0)), text)


def shown(value: str | None, format: Format | str = "text") -> str:
    """``value`` as a reader sees it, whitespace normalised (`normal`).

    ``html``: an HTML body reduced to its text (entities decoded, block elements as breaks). ``text``: osTicket's
    escaped text (a text-format entry, a title, a subject) with its character references decoded, once — osTicket
    keeps ``&amp;lt;`` for a ``&lt;`` it was given. ``plain``: text as written (a scenario's, a plain e-mail's)."""
    if not value:
        return ""
    if format == "html":
        parser = _Text()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    elif format == "text":
        value = _references(value)
    return normal(value)


def paragraphs(value: str | None, format: Format | str = "html") -> str:
    """``value`` as a reader sees it (`shown`), its block breaks kept as line ends: each line normalised, empty
    lines dropped. For showing a message to a person; comparisons use `shown`."""
    if not value:
        return ""
    if format == "html":
        parser = _Text()
        parser.feed(value)
        parser.close()
        value = "".join("\n" if part == " " and tag else part for part, tag in zip(parser.parts, parser.breaks,
                                                                                    strict=True))
    elif format == "text":
        value = _references(value)
    return "\n".join(line for line in (normal(line) for line in value.splitlines()) if line)


# -- what osTicket 1.18.1 does not keep -------------------------------------------------------------------------

# Format::strip_emoticons (include/class.format.php, 1.18.1) removes these from every body, title and subject,
# BMP symbols among them (© ® « ¬ and the soft hyphen, dingbats such as ✓ and ❤, ⌘ and ⌚).
STRIPPED = ((0x1F601, 0x1F64F), (0x1F680, 0x1F6C0), (0x1F600, 0x1F636), (0x1F681, 0x1F6C5), (0x1F30D, 0x1F567),
            (0x1F910, 0x1F999), (0x1F9D0, 0x1F9DF), (0x1F9E0, 0x1F9EF), (0x1F6F0, 0x1F6FF), (0x1F6E0, 0x1F6EF),
            (0x1F6C0, 0x1F6CF), (0x1F9C0, 0x1F9C2), (0x1F6D0, 0x1F6D2), (0x1F500, 0x1F5FF), (0x1F300, 0x1F3FF),
            (0x2702, 0x27B0), (0x00A9, 0x00AE), (0x23F0, 0x23FF), (0x23E0, 0x23EF), (0x2310, 0x231F),
            (0x1000B6, 0x1000B6), (0x2322, 0x232F))
# Bodies: libxml (a plain-text entry is balanced as HTML before it is escaped) and htmLawed (rich text) read `<`
# followed by a letter, `/`, `!` or `?` as markup and drop it with what follows; `<3`, `< b`, `<=` are kept.
_BODY_MARKUP = re.compile(r"<[A-Za-z/!?]")
# Subjects and names: PHP's strip_tags drops from any `<` not followed by ASCII whitespace.
_LINE_MARKUP = re.compile(r"<(?![ \t\n\r\x0b\x0c])")
BODY_BYTES = 65535  # ost_thread_entry.body is TEXT; osTicket keeps the body escaped
TITLE_CHARS = 255  # ost_thread_entry.title is VARCHAR(255), kept escaped
Kind = Literal["body", "title", "subject", "name"]


# Validator::is_formula (include/class.validator.php, 1.18.1): a form's text field without a validator of its own (a
# ticket's subject, a user's name) through the ticket API, the Support Center or the staff panel is refused when
# it starts with one of these ("Content cannot start with the following characters: = - + @"); e-mail is not checked.
_FORMULA = re.compile(r"(^[^=+@-].*$)|(^\+\d+$)", re.DOTALL)


def formula(text: str, what: str) -> str | None:
    """osTicket's refusal of a form value that starts like a spreadsheet formula, or None."""
    if text and _FORMULA.match(text) is None:
        return (f"osTicket 1.18.1 refuses a {what} starting with {text[0]!r} (\"Content cannot start with the "
                "following characters: = - + @\"); begin it otherwise")
    return None


def _stripped(code: int) -> bool:
    return any(low <= code <= high for low, high in STRIPPED)


def unkept(text: str, kind: Kind) -> str | None:
    """Why osTicket 1.18.1 would not keep ``text`` as written (a body, a note's title, a subject or a person's
    name), or None. Each reason was measured through the ticket API, the Support Center, e-mail and the staff panel."""
    for char in text:
        code = ord(char)
        if _stripped(code):
            return (f"osTicket 1.18.1 removes {char!r} (U+{code:04X}) from every text it stores "
                    "(Format::strip_emoticons); leave it out")
        if code > 0xFFFF:
            return (f"osTicket 1.18.1 cannot store {char!r} (U+{code:04X}): its tables are utf8 (3 bytes a "
                    "character) and it keeps '????' instead; leave it out")
    for reference in _REFERENCE.finditer(text):
        shown_as = html.unescape(reference.group(0))
        if shown_as != reference.group(0):
            return (f"osTicket reads {reference.group(0)!r} as an HTML character reference and shows "
                    f"{shown_as!r}; write {shown_as!r} itself")
    # A subject reaches osTicket as written (the run's tag only with `run --tag-subjects`): a '<' that ends it
    # is dropped too (measured on 1.18.1: "Printer <" is kept as "Printer ").
    markup = (_LINE_MARKUP if kind in ("subject", "name") else _BODY_MARKUP).search(text)
    if markup is not None:
        where = "text" if kind == "body" else kind
        rule = "any '<' not followed by a space" if kind in ("subject", "name") else "a '<' followed by a " \
            "letter, '/', '!' or '?'"
        return (f"osTicket reads {text[markup.start():markup.start() + 12]!r} as HTML markup and drops it from "
                f"the {where} ({rule}); put a space after the '<'")
    if kind == "subject" and len(text.splitlines()) > 1:
        return "a subject is one line (an e-mail's Subject header and the Support Center's field hold one)"
    if kind == "body" and text.strip() in ("", "0", "-"):
        return f"osTicket keeps no text for {text!r} (it stores '-', its mark of an empty body)"
    escaped = html.escape(text)
    if kind == "body" and len(escaped.encode()) > BODY_BYTES:
        return (f"too long for osTicket: {len(escaped.encode())} bytes as osTicket keeps it (escaped), at most "
                f"{BODY_BYTES}")
    if kind == "title" and len(escaped) > TITLE_CHARS:
        return f"too long for osTicket: {len(escaped)} characters as osTicket keeps it (escaped), at most {TITLE_CHARS}"
    return None
