"""Identity numbers, vectorised: Aadhaar (Verhoeff), Jan Aadhaar, mobiles, UUIDs.

Numbers that identify a person are drawn without repetition: a keyed permutation of the
number range (a small Feistel network), so citizen ``i`` gets a distinct, random-looking
number that depends only on the seed and ``i``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]

# Verhoeff's dihedral-group tables.
_D = np.array(
    [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ],
    dtype=np.int8,
)
_P = np.array(
    [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ],
    dtype=np.int8,
)
_INV = np.array([0, 4, 3, 2, 1, 5, 6, 7, 8, 9], dtype=np.int8)

AADHAAR_LOW = 2 * 10**10  # an Aadhaar's first 11 digits lie in [2·10^10, 10^11): first digit 2-9
AADHAAR_SPAN = 8 * 10**10
JAN_AADHAAR_LOW = 10**9  # 10 digits, no leading zero
JAN_AADHAAR_SPAN = 9 * 10**9
MOBILE_LOW = 6 * 10**9  # 10 digits starting 6-9
MOBILE_SPAN = 4 * 10**9


def verhoeff_check_digit(digits: npt.NDArray[np.integer]) -> npt.NDArray[np.int8]:
    """Check digit for each row of an ``(n, k)`` array of decimal digits."""
    c = np.zeros(digits.shape[0], dtype=np.int8)
    k = digits.shape[1]
    for i in range(k):  # rightmost digit first; the check digit will take position 0
        c = _D[c, _P[(i + 1) % 8, digits[:, k - 1 - i]]]
    return _INV[c]


def verhoeff_valid(number: str) -> bool:
    """Whether a string of digits passes Verhoeff's check (its last digit is the check digit)."""
    if not number or not number.isascii() or not number.isdigit():
        return False
    c = 0
    for i, ch in enumerate(reversed(number)):
        c = int(_D[c, _P[i % 8, int(ch)]])
    return c == 0


def aadhaar_valid(number: str) -> bool:
    """A well-formed Aadhaar number: 12 digits, first digit 2-9, Verhoeff check digit last."""
    return len(number) == 12 and number[:1] in "23456789" and verhoeff_valid(number)


def permute(index: IntArray, span: int, key: int) -> IntArray:
    """A seed-keyed permutation of ``[0, span)`` evaluated at ``index`` (distinct in, distinct out).

    A four-round Feistel network on the smallest even power of two that holds ``span``,
    with cycle walking: a value that lands outside ``[0, span)`` is encrypted again.
    """
    half = max(1, ((span - 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half) - 1)
    keys = np.random.default_rng([key, span]).integers(1, 1 << 62, size=(_ROUNDS, 2), dtype=np.uint64)
    out = np.asarray(index, dtype=np.int64) % span
    todo = np.arange(len(out))
    values = out.astype(np.uint64)
    while len(todo):
        x = values[todo]
        left, right = x >> np.uint64(half), x & mask
        for mul, add in keys:
            mixed = right * (mul | np.uint64(1)) + add  # wraps mod 2^64 by design
            left, right = right, left ^ ((mixed ^ (mixed >> np.uint64(29))) & mask)
        x = (left << np.uint64(half)) | right
        values[todo] = x
        todo = todo[x >= np.uint64(span)]
    return values.astype(np.int64)


def digits_of(values: IntArray, width: int) -> npt.NDArray[np.uint8]:
    """``(n, width)`` decimal digits of integers in ``[10**(width-1), 10**width)``."""
    text = pc.cast(pa.array(values, type=pa.int64()), pa.string())
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8, count=len(values) * width)
    return (data.reshape(len(values), width) - ord("0")).astype(np.uint8)


def aadhaar_numbers(index: IntArray, key: int) -> pa.StringArray:
    """Distinct valid Aadhaar numbers for distinct indexes."""
    body = AADHAAR_LOW + permute(index, AADHAAR_SPAN, key)
    digits = np.empty((len(index), 12), dtype=np.uint8)
    digits[:, :11] = digits_of(body, 11)
    digits[:, 11] = verhoeff_check_digit(digits[:, :11])
    return fixed_width_strings(digits + ord("0"))


def jan_aadhaar_ids(index: IntArray, key: int) -> IntArray:
    """Distinct 10-digit Jan Aadhaar family IDs."""
    return JAN_AADHAAR_LOW + permute(index, JAN_AADHAAR_SPAN, key)


def mobiles(index: IntArray, key: int) -> IntArray:
    """Distinct 10-digit Indian mobile numbers (first digit 6-9)."""
    return MOBILE_LOW + permute(index, MOBILE_SPAN, key)


_ROUNDS = 4
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_HEX_POS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def uuid4_strings(rng: np.random.Generator, n: int) -> pa.StringArray:
    """``n`` random version-4 UUIDs in canonical text form."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = _HEX[raw >> 4]
    nibbles[:, 1::2] = _HEX[raw & 0x0F]
    text[:, _UUID_HEX_POS] = nibbles
    return fixed_width_strings(text)


def fixed_width_strings(chars: npt.NDArray[np.uint8]) -> pa.StringArray:
    """An Arrow string array from an ``(n, width)`` array of ASCII codes, without a copy per value."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
