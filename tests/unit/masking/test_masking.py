"""The seeds' masking rules, the default-deny policy and the compiled row masker."""

from __future__ import annotations

from typing import Any

import pytest

from masking import (
    FULL_MASKS,
    check_live_columns,
    check_policy,
    effective_policy,
    mask_row,
    mask_value,
    masker_for,
    row_masker,
)
from smartsync.core.catalog import Col, MaskRule, Sync, build_catalog, load_catalog
from smartsync.core.errors import CatalogError, MaskingPolicyError

M = MaskRule


# ── The seeds' examples, exactly ───────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("rule", "value", "masked"),
    [
        (M.CONFIDENTIAL, "1-3 LPA", "CONFIDENTIAL"),
        (M.AADHAAR, "234567890124", "***MASKED***"),
        (M.JAN_AADHAAR, "9876541234", "****-****-1234"),
        (M.MOBILE, "9123455678", "******5678"),
        (M.EMAIL, "user@example.com", "u***@example.com"),
        (M.CLEAR, "SCH-001", "SCH-001"),
        (M.CLEAR, 17, 17),
        (M.CLEAR, 0.8731, 0.8731),
    ],
)
def test_seed_examples(rule: MaskRule, value: object, masked: object) -> None:
    assert mask_value(rule, value) == masked
    assert mask_value(rule.value, value) == masked  # the rule's name works too


@pytest.mark.parametrize("rule", list(MaskRule))
def test_null_stays_null(rule: MaskRule) -> None:
    assert mask_value(rule, None) is None


# ── Accepted variants of a well-formed value ───────────────────────────────────────────


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+919876543210", "******3210"),
        ("+91 98765 43210", "******3210"),
        ("+91-98765-43210", "******3210"),
        ("919876543210", "******3210"),
        ("09876543210", "******3210"),
        ("00919876543210", "******3210"),
        ("  9876543210 ", "******3210"),
        ("(987) 654-3210", "******3210"),
        (9876543210, "******3210"),
        ("6000001234", "******1234"),
    ],
)
def test_mobile_variants(value: object, masked: str) -> None:
    assert mask_value(M.MOBILE, value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("0123456789", "****-****-6789"),
        ("01234 56789", "****-****-6789"),
        ("0123-4567-89", "****-****-6789"),
        (" 0123456789\t", "****-****-6789"),
        (1234567890, "****-****-7890"),
    ],
)
def test_jan_aadhaar_variants(value: object, masked: str) -> None:
    assert mask_value(M.JAN_AADHAAR, value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("User.Name@Example.COM", "U***@example.com"),
        ("  a@b.co ", "a***@b.co"),
        ("x+tag@mail.gov.in", "x***@mail.gov.in"),
        ("a@b.c", "a***@b.c"),
    ],
)
def test_email_variants(value: str, masked: str) -> None:
    assert mask_value(M.EMAIL, value) == masked


# ── Malformed input is masked fully, never passed through ──────────────────────────────

MALFORMED: dict[MaskRule, list[Any]] = {
    M.JAN_AADHAAR: [
        "",
        " ",
        "12345",
        "123456789",
        "12345678901",
        "123456789a",
        "ABCDEFGHIJ",
        "१२३४५६७८९०",
        "１２３４５６７８９０",
        "12345\n67890",
        "****-****-12a4",
        "****-****-123",
        "1234567890.0",
        12345,
        1234567890.0,
        True,
        b"1234567890",
        "+911234567890",
    ],
    M.MOBILE: [
        "",
        "   ",
        "12345",
        "987654321",
        "98765432101",
        "5876543210",
        "0000000000",
        "+915876543210",
        "+9198765",
        "९८७६५४३२१०",
        "９８７６５４３２１０",
        "98765 4321x",
        "******56a8",
        "98765\n43210",
        9876543210.0,
        False,
        "+1 415 555 0100",
    ],
    M.EMAIL: [
        "",
        " ",
        "userexample.com",
        "@example.com",
        "user@",
        "user@example",
        "user@@example.com",
        "a@b@c.com",
        "us er@example.com",
        "user@exa mple.com",
        "usér@example.com",
        "user@exämple.com",
        "user@.example.com",
        "user@example.com.",
        "user@-example.com",
        "user@example..com",
        "user@exa_mple.com",
        "user\n@example.com",
        "user@example.com\x00",
        42,
        ["user@example.com"],
    ],
}


@pytest.mark.parametrize(("rule", "value"), [(r, v) for r, values in MALFORMED.items() for v in values])
def test_malformed_input_is_masked_fully(rule: MaskRule, value: object) -> None:
    assert mask_value(rule, value) == FULL_MASKS[rule]


@pytest.mark.parametrize("value", ["", " ", "abc", "2345 6789 0124", 234567890124, "x" * 10_000])
def test_aadhaar_and_income_are_always_fully_masked(value: object) -> None:
    assert mask_value(M.AADHAAR, value) == "***MASKED***"
    assert mask_value(M.CONFIDENTIAL, value) == "CONFIDENTIAL"


# ── Idempotence and determinism ─────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        (M.JAN_AADHAAR, "0123456789"),
        (M.JAN_AADHAAR, "bad"),
        (M.MOBILE, "+91 98765 43210"),
        (M.MOBILE, "bad"),
        (M.EMAIL, "User@Example.com"),
        (M.EMAIL, "*x@example.com"),
        (M.EMAIL, "bad"),
        (M.AADHAAR, "234567890124"),
        (M.CONFIDENTIAL, "<1L"),
    ],
)
def test_masking_a_masked_value_gives_the_same_value(rule: MaskRule, value: object) -> None:
    once = mask_value(rule, value)
    assert mask_value(rule, once) == once
    assert mask_value(rule, value) == once  # deterministic, also with the domain cache warm


@pytest.mark.parametrize(
    ("rule", "masked"),
    [
        (M.JAN_AADHAAR, "****-****-1234"),
        (M.JAN_AADHAAR, "****-****-****"),
        (M.MOBILE, "******5678"),
        (M.MOBILE, "**********"),
        (M.EMAIL, "u***@example.com"),
        (M.EMAIL, "***@***"),
    ],
)
def test_masked_shapes_are_fixed_points(rule: MaskRule, masked: str) -> None:
    assert mask_value(rule, masked) == masked


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(MaskingPolicyError, match="unknown masking rule 'hash'"):
        mask_value("hash", "x")
    with pytest.raises(MaskingPolicyError):
        masker_for("hash")


# ── The policy: default deny ────────────────────────────────────────────────────────────


def _profile_row(**extra: object) -> dict[str, object]:
    return {
        "citizen_id": 101,
        "full_name": "Asha Meena",
        "district_id": 7,
        "jan_aadhaar": "1234567890",
        "mobile": "+91 98765 43210",
        "email": "asha.meena@example.com",
        "income_band": "1-3 LPA",
        "vulnerability_level": "high",
        "eligible_scheme_count": 4,
        "active_application_count": 1,
        "last_benefit_date": None,
        "updated_at": None,
        **extra,
    }


def test_the_seeds_catalog_passes_the_policy() -> None:
    check_policy(load_catalog())
    for sync in load_catalog().syncs:
        check_policy(sync)


def test_every_citizen_bound_column_has_an_effective_rule() -> None:
    for sync in load_catalog().syncs:
        policy = effective_policy(sync)
        assert set(policy) == set(sync.columns)
        if not sync.citizen_bound:
            assert set(policy.values()) == {M.CLEAR}


def _unvalidated(sync: Sync, **update: Any) -> Sync:
    """A copy that skips the catalog's validation, as a hand-built or stale sync would."""
    return sync.model_copy(update=update)


def test_an_unclassified_column_is_refused() -> None:
    sync = load_catalog().sync("profile_summary")
    columns = {**sync.columns, "mobile": Col(source="mobile")}  # mask missing
    with pytest.raises(MaskingPolicyError, match=r"public\.profile_summary.*'mobile'.*no masking classification"):
        check_policy(_unvalidated(sync, columns=columns))
    with pytest.raises(MaskingPolicyError):
        row_masker(_unvalidated(sync, columns=columns))
    raw = sync.model_dump()
    raw["columns"]["mobile"]["mask"] = None
    with pytest.raises(CatalogError, match=r"sync 'profile_summary'.*columns\.mobile.*no masking classification"):
        build_catalog((raw,))


def test_a_lossy_mask_on_a_key_is_refused() -> None:
    sync = load_catalog().sync("profile_summary")
    columns = {**sync.columns, "citizen_id": Col(source="citizen_id", mask=M.MOBILE)}
    with pytest.raises(MaskingPolicyError, match=r"key column 'citizen_id' cannot use the lossy mask 'mobile'"):
        check_policy(_unvalidated(sync, columns=columns))
    raw = sync.model_dump()
    raw["columns"]["citizen_id"]["mask"] = "mobile"
    with pytest.raises(CatalogError, match=r"key column cannot use the lossy mask 'mobile'"):
        build_catalog((raw,))


def test_a_personal_data_column_marked_clear_is_refused() -> None:
    sync = load_catalog().sync("golden_records")
    columns = {**sync.columns, "aadhaar": Col(source="aadhaar", mask=M.CLEAR)}
    with pytest.raises(MaskingPolicyError, match=r"'aadhaar' holds personal data \(aadhaar\) but is marked clear"):
        check_policy(_unvalidated(sync, columns=columns))


def test_warehouse_bound_syncs_need_no_masks() -> None:
    sync = load_catalog().sync("profile_updates")
    check_policy(sync)
    row = {"citizen_id": 1, "aadhaar": "234567890124", "unknown": 1}
    assert row_masker(sync)(row) == row


def test_live_source_column_not_in_the_catalog_stops_the_sync() -> None:
    sync = load_catalog().sync("profile_summary")
    live = [c.source for c in sync.columns.values() if c.source] + list(sync.dropped)
    check_live_columns(sync, live)
    check_live_columns(sync, [*live, "_source_lsn", "_source_ts", "_synced_at"])
    with pytest.raises(
        MaskingPolicyError, match=r"smart_warehouse\.public\.profile_360 has column\(s\) 'pan_number', 'voter_id'"
    ):
        check_live_columns(sync, [*live, "voter_id", "pan_number"])
    # Warehouse-bound syncs are not masked, so extra columns there are not a masking matter.
    check_live_columns(load_catalog().sync("profile_updates"), ["citizen_id", "anything"])


# ── The compiled row masker ─────────────────────────────────────────────────────────────


def test_row_masker_masks_a_profile_row() -> None:
    sync = load_catalog().sync("profile_summary")
    row = _profile_row(_source_lsn=12345)
    masked = row_masker(sync)(row)
    assert masked == {
        **row,
        "jan_aadhaar": "****-****-7890",
        "mobile": "******3210",
        "email": "a***@example.com",
        "income_band": "CONFIDENTIAL",
    }
    assert row["mobile"] == "+91 98765 43210"  # the input row is not changed
    assert mask_row(sync, row) == masked
    assert row_masker(sync)(masked) == masked  # idempotent on whole rows


def test_row_masker_masks_golden_records_with_aadhaar() -> None:
    sync = load_catalog().sync("golden_records")
    masked = mask_row(sync, {"citizen_id": 1, "aadhaar": "234567890124", "mobile": None})
    assert masked == {"citizen_id": 1, "aadhaar": "***MASKED***", "mobile": None}


def test_row_masker_refuses_an_unclassified_column() -> None:
    sync = load_catalog().sync("profile_summary")
    with pytest.raises(MaskingPolicyError, match=r"public\.profile_summary carries column\(s\) 'pan_number'"):
        row_masker(sync)(_profile_row(pan_number="ABCDE1234F"))


def test_row_masker_handles_partial_rows() -> None:
    sync = load_catalog().sync("profile_summary")
    assert row_masker(sync)({"citizen_id": 5, "email": "bob@x.org"}) == {"citizen_id": 5, "email": "b***@x.org"}
    assert row_masker(sync)({}) == {}
