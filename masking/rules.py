"""The seeds' masking rules as pure functions of one value.

Each function maps ``None`` to ``None`` and anything else to a ``str`` in the rule's masked
shape. A value that does not parse (empty, wrong length, stray characters, non-ASCII digits,
an email without ``@`` …) gets the rule's *full* mask: it is never passed through. Every
function is deterministic and idempotent: a masked value masks to itself.

The functions are on the hot path of both sync directions' writes into smart_citizen, so
they use ``str`` methods and a fast path for the common well-formed shape, not regexes.
"""

from __future__ import annotations

from collections.abc import Callable

from smartsync.core.catalog import MaskRule
from smartsync.core.errors import MaskingPolicyError

Masker = Callable[[object], object]

CONFIDENTIAL = "CONFIDENTIAL"
AADHAAR_MASKED = "***MASKED***"
JAN_AADHAAR_PREFIX = "****-****-"
JAN_AADHAAR_FULL = "****-****-****"
MOBILE_PREFIX = "******"
MOBILE_FULL = "**********"
EMAIL_STARS = "***@"
EMAIL_FULL = "***@***"

_SEPARATORS = str.maketrans("", "", " -()\t")  # spaces, hyphens, brackets inside phone / ID numbers
_MOBILE_FIRST = frozenset("6789")


def _is_ascii_digits(s: str) -> bool:
    return s.isascii() and s.isdigit()


def mask_clear(value: object) -> object:
    """``CLEAR``: explicitly safe, passed as is."""
    return value


def mask_confidential(value: object) -> object:
    """Income bands and the like: any value becomes ``CONFIDENTIAL``."""
    return None if value is None else CONFIDENTIAL


def mask_aadhaar(value: object) -> object:
    """A full Aadhaar number never travels: any value becomes ``***MASKED***``."""
    return None if value is None else AADHAAR_MASKED


def mask_jan_aadhaar(value: object) -> object:
    """A 10-digit Jan Aadhaar ID → ``****-****-1234`` (last 4 digits kept)."""
    if value is None:
        return None
    s = value if type(value) is str else str(value)
    if len(s) == 10 and s.isdigit() and s.isascii():
        return JAN_AADHAAR_PREFIX + s[6:]
    s = s.strip()
    if len(s) == 14 and s.startswith(JAN_AADHAAR_PREFIX):  # already masked
        tail = s[10:]
        return s if tail == "****" or _is_ascii_digits(tail) else JAN_AADHAAR_FULL
    s = s.translate(_SEPARATORS)
    if len(s) == 10 and _is_ascii_digits(s):
        return JAN_AADHAAR_PREFIX + s[6:]
    return JAN_AADHAAR_FULL


def _national_mobile(s: str) -> str:
    """Strip separators and a +91 / 91 / 0091 / 0 prefix; the rest may or may not be a mobile."""
    s = s.translate(_SEPARATORS)
    if s.startswith("+91"):
        return s[3:]
    if len(s) == 12 and s.startswith("91"):
        return s[2:]
    if len(s) == 14 and s.startswith("0091"):
        return s[4:]
    if len(s) == 11 and s.startswith("0"):
        return s[1:]
    return s


def mask_mobile(value: object) -> object:
    """A 10-digit Indian mobile (6-9 first, optional +91/0 prefix) → ``******5678``."""
    if value is None:
        return None
    s = value if type(value) is str else str(value)
    if len(s) == 10 and s.isdigit() and s.isascii():
        return MOBILE_PREFIX + s[6:] if s[0] in _MOBILE_FIRST else MOBILE_FULL
    s = s.strip()
    if len(s) == 10 and s.startswith(MOBILE_PREFIX):  # already masked
        tail = s[6:]
        return s if tail == "****" or _is_ascii_digits(tail) else MOBILE_FULL
    s = _national_mobile(s)
    if len(s) == 10 and _is_ascii_digits(s) and s[0] in _MOBILE_FIRST:
        return MOBILE_PREFIX + s[6:]
    return MOBILE_FULL


def _domain_ok(domain: str) -> bool:
    """An ASCII host name with at least two labels (``example.com``); already lower-cased."""
    return (
        "." in domain
        and domain[0] not in ".-"
        and domain[-1] not in ".-"
        and ".." not in domain
        and domain.replace(".", "").replace("-", "").isalnum()
    )


# Domain as written → "***@" + the domain lower-cased, for domains already seen valid. Real
# data has few distinct domains, so this skips the validation on almost every value.
_MASKED_DOMAINS: dict[str, str] = {}
_MAX_DOMAINS = 50_000


def mask_email(value: object) -> object:
    """``user@Example.com`` → ``u***@example.com``: first character of the local part, then the domain."""
    if value is None:
        return None
    s = value if type(value) is str else str(value)
    at = s.find("@")
    if at > 0:
        tail = _MASKED_DOMAINS.get(s[at + 1 :])
        if tail is not None and s.isascii() and s.isprintable() and " " not in s:
            return s[0] + tail
    return _mask_email_slow(s)


def _mask_email_slow(s: str) -> str:
    s = s.strip()
    at = s.find("@")
    if at < 1 or not s.isascii() or not s.isprintable() or " " in s or s.find("@", at + 1) != -1:
        return EMAIL_FULL
    written = s[at + 1 :]
    domain = written.lower()
    if not domain or not _domain_ok(domain):
        return EMAIL_FULL
    if len(_MASKED_DOMAINS) >= _MAX_DOMAINS:
        _MASKED_DOMAINS.clear()
    _MASKED_DOMAINS[written] = EMAIL_STARS + domain
    return s[0] + EMAIL_STARS + domain


MASKERS: dict[MaskRule, Masker] = {
    MaskRule.CLEAR: mask_clear,
    MaskRule.CONFIDENTIAL: mask_confidential,
    MaskRule.AADHAAR: mask_aadhaar,
    MaskRule.JAN_AADHAAR: mask_jan_aadhaar,
    MaskRule.MOBILE: mask_mobile,
    MaskRule.EMAIL: mask_email,
}

# The value each rule gives for input that does not parse.
FULL_MASKS: dict[MaskRule, str] = {
    MaskRule.CONFIDENTIAL: CONFIDENTIAL,
    MaskRule.AADHAAR: AADHAAR_MASKED,
    MaskRule.JAN_AADHAAR: JAN_AADHAAR_FULL,
    MaskRule.MOBILE: MOBILE_FULL,
    MaskRule.EMAIL: EMAIL_FULL,
}


def masker_for(rule: MaskRule | str) -> Masker:
    """The function of one rule (for column-wise masking, e.g. over an Arrow column)."""
    try:
        return MASKERS[MaskRule(rule)]
    except ValueError:
        known = ", ".join(r.value for r in MaskRule)
        msg = f"unknown masking rule {rule!r}"
        raise MaskingPolicyError(msg, hint=f"use one of: {known}") from None


def mask_value(rule: MaskRule | str, value: object) -> object:
    """Mask one value by one rule; ``None`` stays ``None``."""
    return masker_for(rule)(value)
