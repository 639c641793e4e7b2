"""The one rule for direction controls in what the bot sends (see bot/render.py): each
piece of user text sits in a first strong isolate ... pop directional isolate pair of its
own, on one line, and no other direction control appears, none a user sent among them."""

from __future__ import annotations

import re

# Every mark that reorders the text after it: embeddings, overrides, isolates, marks.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FSI, PDI = "\u2068", "\u2069"
# A pair holding no direction control at all: neither another isolate nor a user's own.
_ISOLATE = re.compile(f"{FSI}((?:(?!{BIDI_CONTROLS.pattern})[^\n])*){PDI}")


def keeps_the_isolate_rule(text: str) -> bool:
    """No direction control outside whole, flat pairs on one line, and none inside."""
    return BIDI_CONTROLS.search(_ISOLATE.sub("", text)) is None


def isolated(text: str) -> list[str]:
    """The pieces of user text isolated in a sent message, in order. Fails if the message
    holds any other direction control: a stray, unbalanced, nested or split pair, or any
    mark inside a piece (a user's own)."""
    assert keeps_the_isolate_rule(text), repr(text)
    pieces: list[str] = _ISOLATE.findall(text)
    return pieces


def shown(text: str) -> str:
    """The message as read (the isolates' marks show nothing), once it keeps the rule."""
    isolated(text)
    return text.replace(FSI, "").replace(PDI, "")
