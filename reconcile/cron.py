"""Schedule arithmetic: the catalog's UTC cron expressions, UTC days and the monthly maintenance window.

Pure functions of a time; the loop that runs jobs at these times is ``reconcile.scheduler``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import croniter

from smartsync.core.catalog import MaintenanceWindow


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def next_run(cron: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which ``cron`` fires (UTC)."""
    return croniter(cron, _utc(after)).get_next(datetime).astimezone(UTC)  # type: ignore[no-any-return]


def previous_run(cron: str, at: datetime) -> datetime:
    """The last time at or before ``at`` at which ``cron`` fired (UTC)."""
    at = _utc(at)
    if croniter.match(cron, at) and at.second == 0 and at.microsecond == 0:
        return at
    return croniter(cron, at).get_prev(datetime).astimezone(UTC)  # type: ignore[no-any-return]


def in_maintenance(window: MaintenanceWindow, at: datetime) -> bool:
    """True during the window: the n-th given weekday of the month, between the UTC hours."""
    at = _utc(at)
    nth = (at.day - 1) // 7 + 1
    return (
        at.weekday() == window.weekday
        and nth == window.nth_in_month
        and window.start_hour_utc <= at.hour < window.end_hour_utc
    )


def maintenance_end(window: MaintenanceWindow, at: datetime) -> datetime | None:
    """When the window that contains ``at`` ends (None when ``at`` is outside it)."""
    if not in_maintenance(window, at):
        return None
    at = _utc(at)
    return at.replace(hour=window.end_hour_utc, minute=0, second=0, microsecond=0)


def next_allowed_run(cron: str, after: datetime, window: MaintenanceWindow) -> datetime:
    """The next fire time of ``cron`` after ``after``, moved to the window's end if it falls inside."""
    fire = next_run(cron, after)
    end = maintenance_end(window, fire)
    return end if end is not None else fire


def utc_day(at: datetime) -> tuple[datetime, datetime]:
    """Start and end of the UTC day that contains ``at``."""
    start = _utc(at).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def last_days(n: int, now: datetime) -> tuple[datetime, datetime]:
    """The ``n`` complete UTC days before the one that contains ``now``: ``[start, end)``."""
    today, _ = utc_day(now)
    return today - timedelta(days=n), today
