"""The traditional DES-based Unix ``crypt(3)`` in pure Python.

Classic tripcodes are defined as the last ten characters of this function's output, so the
board needs it bit-for-bit. The standard library's ``crypt`` module is deprecated and gone in
Python 3.13, and the system libcrypt may not offer DES at all (libxcrypt can be built without
it), so the algorithm is implemented here from its description:

* the key is the first eight bytes of the password (a NUL byte ends it, as in C), each byte's
  low seven bits shifted left by one to form a 64-bit DES key whose parity bits are ignored;
* the two salt characters give twelve bits; salt bit ``6*i + j`` (``j`` counting from the
  least significant bit of character ``i``) swaps E-box outputs ``6*i + j`` and
  ``6*i + j + 24``;
* an all-zero block is encrypted 25 times with that modified DES, and the resulting 64 bits
  are written as eleven characters of ``./0-9A-Za-z`` (six bits each, the last padded with two
  zero bits) after the two salt characters.

This is a legacy, weak hash: use it only for tripcode compatibility, never to store secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["ALPHABET", "des_crypt"]

ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHAR_VALUE = {c: i for i, c in enumerate(ALPHABET)}

# Tables from FIPS 46-3. Bit numbers are 1-based and count from the most significant bit, as
# the standard writes them, so the tables can be checked against it by eye.
_PC1 = (
    57, 49, 41, 33, 25, 17, 9,
    1, 58, 50, 42, 34, 26, 18,
    10, 2, 59, 51, 43, 35, 27,
    19, 11, 3, 60, 52, 44, 36,
    63, 55, 47, 39, 31, 23, 15,
    7, 62, 54, 46, 38, 30, 22,
    14, 6, 61, 53, 45, 37, 29,
    21, 13, 5, 28, 20, 12, 4,
)  # fmt: skip
_PC2 = (
    14, 17, 11, 24, 1, 5,
    3, 28, 15, 6, 21, 10,
    23, 19, 12, 4, 26, 8,
    16, 7, 27, 20, 13, 2,
    41, 52, 31, 37, 47, 55,
    30, 40, 51, 45, 33, 48,
    44, 49, 39, 56, 34, 53,
    46, 42, 50, 36, 29, 32,
)  # fmt: skip
_ROTATIONS = (1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1)
_IP = (
    58, 50, 42, 34, 26, 18, 10, 2,
    60, 52, 44, 36, 28, 20, 12, 4,
    62, 54, 46, 38, 30, 22, 14, 6,
    64, 56, 48, 40, 32, 24, 16, 8,
    57, 49, 41, 33, 25, 17, 9, 1,
    59, 51, 43, 35, 27, 19, 11, 3,
    61, 53, 45, 37, 29, 21, 13, 5,
    63, 55, 47, 39, 31, 23, 15, 7,
)  # fmt: skip
_P = (
    16, 7, 20, 21, 29, 12, 28, 17,
    1, 15, 23, 26, 5, 18, 31, 10,
    2, 8, 24, 14, 32, 27, 3, 9,
    19, 13, 30, 6, 22, 11, 4, 25,
)  # fmt: skip
_SBOXES = (
    (
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
        0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
        4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
        15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ),
    (
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
        3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
        0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
        13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ),
    (
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
        13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
        13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
        1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ),
    (
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
        13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
        10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
        3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ),
    (
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
        14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
        4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
        11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ),
    (
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
        10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
        9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
        4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ),
    (
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
        13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
        1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
        6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ),
    (
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
        1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
        7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
        2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ),
)  # fmt: skip


def _permute(value: int, table: Sequence[int], width: int) -> int:
    """Apply a FIPS-style permutation table to a ``width``-bit value."""
    out = 0
    for position in table:
        out = (out << 1) | ((value >> (width - position)) & 1)
    return out


# --- Precomputed tables -----------------------------------------------------------------------
#
# The round function works on the 48-bit E-box output as eight 6-bit chunks. Rotating R left by
# one bit and appending its top bit gives a 34-bit word in which chunk k sits at shift 28 - 4k.
# Neighbouring chunks overlap (E duplicates bits), but every other chunk does not, so the even
# chunks (shifts 28, 20, 12, 4) and the odd chunks (shifts 24, 16, 8, 0) are each read from
# their own copy of that word. Subkeys are stored "spread" in the same layout, which turns the
# E-box expansion plus key mixing into a few shifts and two XORs per round.


def _spread(subkey48: int) -> tuple[int, int]:
    """Split a 48-bit subkey into the (even, odd) chunk layout the round function reads."""
    chunks = [(subkey48 >> (42 - 6 * k)) & 0x3F for k in range(8)]
    even = chunks[0] << 28 | chunks[2] << 20 | chunks[4] << 12 | chunks[6] << 4
    odd = chunks[1] << 24 | chunks[3] << 16 | chunks[5] << 8 | chunks[7]
    return even, odd


def _build_sp_tables() -> tuple[tuple[int, ...], ...]:
    """S-box lookups with the P permutation already applied to their output."""
    # P is linear over bits, so permuting each S-box's four output bits on its own and OR-ing
    # the results later equals permuting the combined 32-bit value.
    tables = []
    for k, sbox in enumerate(_SBOXES):
        entries = []
        for v in range(64):
            row = ((v >> 4) & 2) | (v & 1)
            column = (v >> 1) & 0xF
            entries.append(_permute(sbox[row * 16 + column] << (28 - 4 * k), _P, 32))
        tables.append(tuple(entries))
    return tuple(tables)


def _linear_tables(count: int, bits: int, single: Callable[[int, int], int]) -> tuple[tuple[int, ...], ...]:
    """Lookup tables for a bit permutation applied to ``count`` slices of ``bits`` bits each.

    ``single(index, bit)`` is the output for slice ``index`` holding only bit ``bit`` (0 = least
    significant). A permutation moves bits independently, so every other entry is the OR of
    single-bit outputs; building entries that way instead of permuting each one bit by bit
    keeps module import at a few milliseconds.
    """
    tables = []
    for index in range(count):
        singles = [single(index, bit) for bit in range(bits)]
        entries = [0] * (1 << bits)
        for v in range(1, 1 << bits):
            lowest = v & -v
            entries[v] = entries[v ^ lowest] | singles[lowest.bit_length() - 1]
        tables.append(tuple(entries))
    return tuple(tables)


def _pc1_single(index: int, bit: int) -> int:
    # Tables are indexed by a key byte's low seven bits, which sit one place up in the DES key.
    return _permute(1 << (bit + 1 + 8 * (7 - index)), _PC1, 64)


def _pc2_single(index: int, bit: int) -> int:
    # The even half is packed above bit 34 and the odd half below it, so the eight partial
    # results of a subkey combine with a single OR chain.
    even, odd = _spread(_permute(1 << (bit + 7 * (7 - index)), _PC2, 56))
    return even << 34 | odd


def _fp_single(index: int, bit: int) -> int:
    return _permute(1 << (bit + 8 * (7 - index)), _FP, 64)


# The final permutation is the inverse of IP.
_FP = tuple(sorted(range(1, 65), key=lambda position: _IP[position - 1]))

_SP = _build_sp_tables()
_PC1_TABLES = _linear_tables(8, 7, _pc1_single)  # key bytes -> C||D
_PC2_TABLES = _linear_tables(8, 7, _pc2_single)  # 7-bit slices of C||D -> packed subkey
_FP_TABLES = _linear_tables(8, 8, _fp_single)  # bytes of the block -> output
_MASK28 = (1 << 28) - 1
_MASK34 = (1 << 34) - 1
_REVERSED6 = tuple(int(f"{v:06b}"[::-1], 2) for v in range(64))


def _subkeys(password: bytes) -> list[tuple[int, int]]:
    """The sixteen round keys, spread into the (even, odd) layout."""
    key = password.split(b"\0", 1)[0][:8]
    cd = 0
    for index, byte in enumerate(key):
        # Only the low seven bits of each character reach the key: the eighth key bit of each
        # byte is DES parity, which the algorithm ignores.
        cd |= _PC1_TABLES[index][byte & 0x7F]
    c, d = cd >> 28, cd & _MASK28
    t0, t1, t2, t3, t4, t5, t6, t7 = _PC2_TABLES
    keys = []
    for rotation in _ROTATIONS:
        c = ((c << rotation) | (c >> (28 - rotation))) & _MASK28
        d = ((d << rotation) | (d >> (28 - rotation))) & _MASK28
        packed = (
            t0[c >> 21]
            | t1[(c >> 14) & 0x7F]
            | t2[(c >> 7) & 0x7F]
            | t3[c & 0x7F]
            | t4[d >> 21]
            | t5[(d >> 14) & 0x7F]
            | t6[(d >> 7) & 0x7F]
            | t7[d & 0x7F]
        )
        keys.append((packed >> 34, packed & _MASK34))
    return keys


def _salt_masks(salt: str) -> tuple[int, int]:
    """Where the salt swaps E-box bits, in the layout of the even and odd chunk words."""
    try:
        first, second = _CHAR_VALUE[salt[0]], _CHAR_VALUE[salt[1]]
    except (IndexError, KeyError):
        raise ValueError("salt must start with two characters from [./0-9A-Za-z]") from None
    # Salt bit j (least significant first) names E bit 6*i + j, counted from the chunk's most
    # significant end, hence the bit reversal. Character 0 swaps chunk 0 with chunk 4 (both in
    # the even word, 16 bits apart); character 1 swaps chunk 1 with chunk 5 (odd word, likewise).
    # The masks mark the lower chunk of each pair.
    return _REVERSED6[first] << 12, _REVERSED6[second] << 8


def des_crypt(password: bytes | str, salt: str) -> str:
    """Return the 13-character traditional ``crypt(3)`` hash: the salt and eleven characters.

    ``password`` as ``str`` is encoded as UTF-8, like the stdlib ``crypt`` module does. Only
    its first eight bytes count, and a NUL byte ends it. ``salt`` must start with two
    characters of ``./0-9A-Za-z``; anything after them is ignored.

    Raises ``ValueError`` for an invalid salt.
    """
    if isinstance(password, str):
        password = password.encode("utf-8")
    salt_even, salt_odd = _salt_masks(salt)
    keys = _subkeys(password)
    s0, s1, s2, s3, s4, s5, s6, s7 = _SP
    left = right = 0  # IP of the all-zero block is still all zeros
    for _ in range(25):
        for index in range(0, 16, 2):
            # Two rounds per pass, alternating which half is updated, saves the L/R swap.
            even_key, odd_key = keys[index]
            w = ((right & 1) << 33) | (right << 1) | (right >> 31)
            x = (w >> 16) ^ w
            t = x & salt_even
            e = w ^ t ^ (t << 16) ^ even_key
            t = x & salt_odd
            o = w ^ t ^ (t << 16) ^ odd_key
            left ^= (
                s0[e >> 28]
                | s1[(o >> 24) & 0x3F]
                | s2[(e >> 20) & 0x3F]
                | s3[(o >> 16) & 0x3F]
                | s4[(e >> 12) & 0x3F]
                | s5[(o >> 8) & 0x3F]
                | s6[(e >> 4) & 0x3F]
                | s7[o & 0x3F]
            )
            even_key, odd_key = keys[index + 1]
            w = ((left & 1) << 33) | (left << 1) | (left >> 31)
            x = (w >> 16) ^ w
            t = x & salt_even
            e = w ^ t ^ (t << 16) ^ even_key
            t = x & salt_odd
            o = w ^ t ^ (t << 16) ^ odd_key
            right ^= (
                s0[e >> 28]
                | s1[(o >> 24) & 0x3F]
                | s2[(e >> 20) & 0x3F]
                | s3[(o >> 16) & 0x3F]
                | s4[(e >> 12) & 0x3F]
                | s5[(o >> 8) & 0x3F]
                | s6[(e >> 4) & 0x3F]
                | s7[o & 0x3F]
            )
        # DES ends without the last swap, and the next encryption's IP undoes this one's FP,
        # so between iterations the halves only trade places.
        left, right = right, left
    block = left << 32 | right
    output = 0
    for index, table in enumerate(_FP_TABLES):
        output |= table[(block >> (56 - 8 * index)) & 0xFF]
    output <<= 2  # 64 bits become eleven 6-bit characters with two zero bits of padding
    encoded = "".join(ALPHABET[(output >> (60 - 6 * i)) & 0x3F] for i in range(11))
    return salt[:2] + encoded
