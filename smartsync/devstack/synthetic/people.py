"""Column generators of people: golden records, profile_360 and the portal's citizens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from smartsync.devstack.synthetic import ids, vocab
from smartsync.devstack.synthetic.draw import (
    HOUSEHOLD,
    I64,
    US_PER_DAY,
    ColumnFn,
    Nullable,
    _beta,
    _cat,
    _choice,
    _null_where,
    _row_id,
    _take,
    _text,
    _weighted,
)

if TYPE_CHECKING:
    from smartsync.devstack.synthetic.generator import Chunk


# ── People: golden records, profile_360 and the portal's citizens ─────────────────────


def _gender(c: Chunk) -> pa.Array:
    return _weighted(c.rng("gender"), c.n, vocab.GENDERS)


def _first_name_idx(c: Chunk) -> npt.NDArray[np.intp]:
    u = c.rng("first_name").random(c.n)
    males, females = len(vocab.MALE_NAMES), len(vocab.FEMALE_NAMES)
    gender = c.numbers("gender")
    male = (u * males).astype(np.intp)
    female = males + (u * females).astype(np.intp)
    anyone = (u * (males + females)).astype(np.intp)
    return np.where(gender == "male", male, np.where(gender == "female", female, anyone))


def _surname_idx(c: Chunk) -> npt.NDArray[np.intp]:
    drawn = c.rng("surname").integers(0, len(vocab.SURNAMES), size=c.n)
    return c.grouped(drawn, HOUSEHOLD)


def _full_name(c: Chunk) -> pa.Array:
    first = _take(vocab.MALE_NAMES + vocab.FEMALE_NAMES, _first_name_idx(c))
    return _cat(first, " ", _take(vocab.SURNAMES, _surname_idx(c)))


def _date_of_birth(c: Chunk) -> I64:
    rng = c.rng("date_of_birth")
    age_days = np.clip(rng.normal(34, 19, size=c.n), 0.5, 99) * 365.25
    return (c.anchor // US_PER_DAY - age_days).astype(np.int64)


def _district_idx(c: Chunk) -> npt.NDArray[np.intp]:
    drawn = _choice(c.rng("district_id"), c.n, [w for _, w, _ in vocab.DISTRICTS])
    return c.grouped(drawn, HOUSEHOLD)


def _district_id(c: Chunk) -> I64:
    return _district_idx(c).astype(np.int64) + 1


def _address(c: Chunk) -> pa.Array:
    district = _district_idx(c)
    house = c.grouped(c.rng("address.house").integers(1, 400, size=c.n), HOUSEHOLD)
    locality = c.grouped(c.rng("address.locality").integers(0, len(vocab.LOCALITIES), size=c.n), HOUSEHOLD)
    pin_tail = c.grouped(c.rng("address.pin").integers(1, 1000, size=c.n), HOUSEHOLD)
    pin_prefix = _take([d[2] for d in vocab.DISTRICTS], district)
    return _cat(
        "H.No. ",
        _text(house),
        ", ",
        _take(vocab.LOCALITIES, locality),
        ", ",
        _take(vocab.DISTRICT_NAMES, district),
        ", Rajasthan ",
        pin_prefix,
        pc.utf8_lpad(_text(pin_tail), 3, "0"),
    )


def _jan_aadhaar(c: Chunk) -> pa.Array:
    household = c.index // HOUSEHOLD
    return _text(ids.jan_aadhaar_ids(household, c.key("jan_aadhaar")))


def _aadhaar(c: Chunk) -> pa.Array:
    return ids.aadhaar_numbers(c.index, c.key("aadhaar"))


def _mobile(c: Chunk) -> pa.Array:
    numbers = _text(ids.mobiles(c.index, c.key("mobile")))
    return _null_where(numbers, c.rng("mobile").random(c.n) < 0.03)


def _email(c: Chunk) -> pa.Array:
    first = _take(vocab.MALE_NAMES + vocab.FEMALE_NAMES, _first_name_idx(c))
    local = _cat(
        pc.replace_substring(pc.utf8_lower(first), " ", ""),
        ".",
        pc.utf8_lower(_take(vocab.SURNAMES, _surname_idx(c))),
        _text(c.index + 1),
    )
    email = _cat(local, "@", _weighted(c.rng("email.domain"), c.n, vocab.EMAIL_DOMAINS))
    return _null_where(email, c.rng("email.null").random(c.n) < 0.15)


def _income_idx(c: Chunk) -> npt.NDArray[np.intp]:
    drawn = _choice(c.rng("income_band"), c.n, [w for _, w in vocab.INCOME_BANDS])
    return c.grouped(drawn, HOUSEHOLD)


def _income_band(c: Chunk) -> pa.Array:
    return _take([b for b, _ in vocab.INCOME_BANDS], _income_idx(c))


def _vulnerability_level(c: Chunk) -> pa.Array:
    # Poorer households are more vulnerable; the noise keeps it from being a pure function.
    score = _income_idx(c) + c.rng("vulnerability_level").normal(0, 0.8, size=c.n)
    level = np.digitize(score, [0.8, 2.2, 3.8])
    return _take(vocab.VULNERABILITY_LEVELS, level)


def _verification_status(c: Chunk) -> pa.Array:
    return _weighted(c.rng("verification_status"), c.n, vocab.VERIFICATION_STATUSES)


def _last_benefit_date(c: Chunk) -> Nullable:
    days = c.anchor // US_PER_DAY - c.rng("last_benefit_date").integers(1, 730, size=c.n)
    return Nullable(days, c.rng("last_benefit_date.null").random(c.n) > 0.55)


PERSON: dict[str, ColumnFn] = {
    "citizen_id": _row_id,
    "gender": _gender,
    "full_name": _full_name,
    "date_of_birth": _date_of_birth,
    "district_id": _district_id,
    "address": _address,
    "jan_aadhaar": _jan_aadhaar,
    "aadhaar": _aadhaar,
    "mobile": _mobile,
    "email": _email,
    "income_band": _income_band,
    "vulnerability_level": _vulnerability_level,
    "verification_status": _verification_status,
    "eligible_scheme_count": lambda c: c.rng("eligible_scheme_count").poisson(3.0, size=c.n),
    "active_application_count": lambda c: c.rng("active_application_count").poisson(0.4, size=c.n),
    "last_benefit_date": _last_benefit_date,
    "risk_score": _beta("risk_score", 2, 6),
}
