"""What every container cleaner shares: the result and the ways a file is refused."""

from __future__ import annotations

from dataclasses import dataclass, field

Piece = bytes | memoryview


class Malformed(Exception):
    """The container is broken; the argument says how, in words for people."""


class HiddenData(Exception):
    """Data follows the end of the image (e.g. HTML or a ZIP appended: a polyglot)."""


@dataclass(slots=True)
class Cleaned:
    pieces: list[Piece]  # the cleaned file, in order (slices of the input where possible)
    width: int
    height: int
    frames: int = 1
    # Memory a decoder must hold at once for this file beyond its streaming buffers
    # (progressive JPEG coefficients, interlaced PNG rows); 0 when it decodes in strips.
    buffer_bytes: int = 0
    removed: list[str] = field(default_factory=list)  # what was taken out, for logs and tests

    @property
    def size(self) -> int:
        return sum(len(piece) for piece in self.pieces)

    def tobytes(self) -> bytes:
        return b"".join(self.pieces)


# Padding some encoders leave after the end marker; up to this much of it is dropped
# silently. Anything else after the end is refused as hidden data.
TRAILER_TOLERANCE = 4096
_PADDING = b"\x00\xff \t\r\n"


def _check_trailer(data: bytes, end: int) -> None:
    rest = data[end:]
    if rest and (len(rest) > TRAILER_TOLERANCE or rest.strip(_PADDING)):
        raise HiddenData
