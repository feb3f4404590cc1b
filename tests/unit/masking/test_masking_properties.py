"""Property tests: for any input, masking never lets more than the seeds allow through."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from masking import FULL_MASKS, mask_value, row_masker
from masking.leaks import find_in_text
from smartsync.core.catalog import MaskRule, load_catalog

M = MaskRule
_ASCII_DIGIT = re.compile(r"[0-9]")

# Anything a column could hand us: text of any alphabet, numbers, and the digit-heavy shapes
# of IDs and phone numbers with the separators and prefixes people type.
_separator = st.sampled_from(["", " ", "-", "  ", "\t", "(", ")"])
_digits = st.text(alphabet="0123456789", min_size=0, max_size=16)
_unicode_digits = st.text(alphabet=st.characters(categories=["Nd"]), min_size=1, max_size=14)
_phone_like = st.builds(
    lambda prefix, parts, seps: prefix + "".join(p + s for p, s in zip(parts, seps, strict=False)),
    st.sampled_from(["", "+91", "+91 ", "91", "0", "0091", "+1", "+"]),
    st.lists(_digits, min_size=1, max_size=4),
    st.lists(_separator, min_size=4, max_size=4),
)
_emailish = st.builds(
    lambda local, at, domain: local + at + domain,
    st.text(min_size=0, max_size=20),
    st.sampled_from(["@", "@@", "", " @"]),
    st.one_of(st.from_regex(r"[A-Za-z0-9-]{1,10}(\.[A-Za-z0-9-]{1,6}){0,3}", fullmatch=True), st.text(max_size=15)),
)
anything = st.one_of(
    st.none(),
    st.text(),
    _digits,
    _unicode_digits,
    _phone_like,
    _emailish,
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
)


def _ascii_digits(value: object) -> str:
    return "".join(_ASCII_DIGIT.findall(str(value)))


def _same(a: object, b: object) -> bool:
    """Equal, counting NaN as equal to itself (CLEAR passes a NaN through unchanged)."""
    return a == b or (a != a and b != b)  # noqa: PLR0124 — the NaN test


@given(st.sampled_from(list(MaskRule)), anything)
@example(M.MOBILE, "+91 98765 43210")
@example(M.JAN_AADHAAR, "****-****-1234")
@example(M.EMAIL, "u***@example.com")
@example(M.CLEAR, float("nan"))
def test_masking_is_idempotent_and_null_preserving(rule: MaskRule, value: object) -> None:
    once = mask_value(rule, value)
    assert _same(mask_value(rule, once), once)
    assert _same(mask_value(rule, value), once)
    assert (once is None) == (value is None)
    if rule is not M.CLEAR and value is not None:
        assert isinstance(once, str)


@given(st.sampled_from([M.JAN_AADHAAR, M.MOBILE]), anything)
@settings(max_examples=500)
@example(M.MOBILE, "09876543210")
@example(M.JAN_AADHAAR, "१२३४५६७८९०")
def test_partial_masks_keep_at_most_the_last_four_digits(rule: MaskRule, value: object) -> None:
    masked = mask_value(rule, value)
    if value is None:
        return
    assert isinstance(masked, str)
    kept = _ascii_digits(masked)
    assert len(kept) <= 4
    # The digits kept are the original's last four, never any others.
    assert _ascii_digits(value).endswith(kept)
    # Only the seeds' shapes come out.
    if rule is M.JAN_AADHAAR:
        assert re.fullmatch(r"\*\*\*\*-\*\*\*\*-([0-9]{4}|\*{4})", masked)
    else:
        assert re.fullmatch(r"\*{6}([0-9]{4}|\*{4})", masked)
    assert not any(ch.isdigit() and not ch.isascii() for ch in masked)


@given(anything)
@example("Firstname.Lastname@example.com")
@example("xy@xy.com")
def test_masked_email_keeps_only_the_first_character_of_the_local_part(value: object) -> None:
    masked = mask_value(M.EMAIL, value)
    if value is None:
        return
    assert isinstance(masked, str)
    if masked == FULL_MASKS[M.EMAIL]:
        return
    text = str(value).strip()
    local, _, domain = text.partition("@")
    shown_local, sep, shown_domain = masked.partition("@")
    assert sep == "@"
    assert shown_local == local[0] + "***"
    assert shown_domain == domain.lower()
    assert "@" not in shown_domain


@given(anything)
def test_full_masks_carry_nothing_of_the_input(value: object) -> None:
    for rule in (M.AADHAAR, M.CONFIDENTIAL):
        masked = mask_value(rule, value)
        assert masked is None if value is None else masked == FULL_MASKS[rule]


@given(
    st.fixed_dictionaries(
        {
            "citizen_id": st.integers(min_value=1, max_value=10**9),
            "jan_aadhaar": anything,
            "aadhaar": anything,
            "mobile": anything,
            "email": anything,
            "income_band": anything,
        }
    )
)
@settings(max_examples=300)
def test_no_masked_profile_row_trips_the_leak_scanner(row: dict[str, object]) -> None:
    sync = load_catalog().sync("golden_records")
    masked = row_masker(sync)(row)
    rules = sync.masks()
    for column in ("jan_aadhaar", "aadhaar", "mobile", "email", "income_band"):
        value = masked[column]
        if value is None:
            continue
        hits = find_in_text(str(value), column=column, rule=rules[column])
        if column == "email":
            # The seeds keep the domain, so digits a domain holds may still look like a number.
            local = str(value).partition("@")[0]
            assert {h.kind for h in hits} <= {"aadhaar", "mobile"}, (row[column], value, hits)
            assert find_in_text(local, column=column) == []
        else:
            assert hits == [], (column, row[column], value, hits)
