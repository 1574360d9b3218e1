"""The client's file name, made safe to show next to a post.

The name is only ever displayed (templates escape it); files are stored under their content
hash. What matters here is that a name cannot lie about itself: no directories, no control
characters, no bidirectional overrides that turn ``evil‮gpj.exe`` into ``evilexe.jpg``,
and no extension (the canonical one is decided from the content).
"""

from __future__ import annotations

import re
import unicodedata

# Explicit bidirectional formatting characters (embeddings, overrides, isolates) and the
# implicit marks; all of them can reorder what a reader sees.
_BIDI = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # LRE RLE PDF LRO RLO
    "\u2066\u2067\u2068\u2069"  # LRI RLI FSI PDI
    "\u200e\u200f\u061c"  # LRM RLM ALM
)

# An extension is a short run of letters and digits with at least one letter, so that
# "report 1.5" keeps its ".5" while "photo.JPG" and "clip.mp4" lose theirs.
_EXTENSION = re.compile(r"\.(?=[0-9]*[A-Za-z])[A-Za-z0-9]{1,10}$")

FALLBACK = "file"


def _keep(char: str) -> bool:
    if char in _BIDI:
        return False
    # Cc: C0/C1 controls including NUL, tab and newlines; Cs: lone surrogates that some
    # decoders let through ('surrogateescape'); neither belongs in a displayed name.
    return unicodedata.category(char) not in {"Cc", "Cs"}


def sanitize_filename(name: str, max_length: int = 120) -> str:
    """A display name without directories, controls, bidi overrides or extension.

    Never empty (``"file"``), at most ``max_length`` characters; when too long, the end of
    the name is kept, since that is where people put what distinguishes their files.
    """
    # Both separators: a Windows browser may send "C:\\Users\\me\\cat.jpg".
    name = re.split(r"[/\\]", name)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(char for char in name if _keep(char))
    name = name.strip().lstrip(".").strip()
    name = _EXTENSION.sub("", name)
    # Trailing dots and spaces are invisible or confusing at the end of a name.
    name = name.rstrip(". ")
    if len(name) > max_length:
        name = name[-max_length:]
        # Cutting may leave a combining mark without its base character.
        while name and unicodedata.combining(name[0]):
            name = name[1:]
        name = name.lstrip(". ").strip()
    return name or FALLBACK
