"""When a schedule fires: cron expressions (5 fields or ``@daily``-style) in an IANA time zone.

Fire times are computed by cronsim in the schedule's local wall-clock time and stored in UTC. Daylight
saving follows Debian cron, which is what people who write cron lines expect:
- a fixed-time job (minute and hour fields without ``*``) whose time falls in the hour skipped by a
  spring-forward jump fires once, at the jump (02:30 in Europe/Berlin on the last Sunday of March
  fires at 03:00 CEST);
- in the hour repeated by a fall-back jump it fires once, the first time the clock shows it;
- a job with ``*`` in the minute or hour field (``*/30 * * * *``, ``30 * * * *``, ``*/15 1 * * *``) runs
  on real elapsed time: in the repeated hour it fires in both passes (01:00 and 01:30 EDT, then 01:00
  and 01:30 EST), and in the skipped hour it has nothing to fire (Debian: "run based on the new time
  immediately"). cronsim implements both rules; tests/unit/test_schedule_times.py pins them.

After an outage the scheduler does not replay missed fires one by one: ``due()`` names the latest
missed fire (the one to run) and the earlier ones (recorded as skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from common.errors import ValidationError

ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
CRON_MAX_CHARS = 200
SCAN_LIMIT = 1000  # fires walked forward after an outage before jumping to the last day
SKIPPED_KEPT = 100  # skipped fire times recorded one by one; beyond that only counted


def cron_expression(raw: object) -> str:
    """The five-field form of a cron line or ``@alias``; ``ValidationError`` naming the problem."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > CRON_MAX_CHARS:
        raise ValidationError("cron: required, five fields such as '30 2 * * *' or @hourly/@daily/@weekly/"
                              "@monthly", details={"cron": "required"})
    text = " ".join(raw.split())
    expr = ALIASES.get(text.lower(), text)
    if expr.startswith("@"):
        raise ValidationError(f"cron: unknown alias {text!r}; known: {', '.join(sorted(ALIASES))}",
                              details={"cron": "unknown alias"})
    if len(expr.split()) != 5:
        raise ValidationError("cron: five fields (minute hour day-of-month month day-of-week)",
                              details={"cron": "five fields"})
    try:
        CronSim(expr, datetime(2026, 1, 1))
    except CronSimError as exc:
        raise ValidationError(f"cron: {exc}", details={"cron": str(exc)}) from None
    return expr


def zone(name: object) -> ZoneInfo:
    """An IANA zone by name (``Europe/Berlin``, ``UTC``); ``ValidationError`` otherwise."""
    if not isinstance(name, str) or not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise ValidationError("timezone: an IANA zone name such as Europe/Berlin",
                              details={"timezone": "IANA zone name"})
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"timezone: unknown zone {name!r}", details={"timezone": "unknown zone"}) from None


def next_fire(expr: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first fire time strictly after ``after`` (aware), in UTC."""
    it = CronSim(expr, after.astimezone(tz))
    for _ in range(10):  # a wall-clock answer in a repeated hour can lie before ``after``: walk on
        fire = next(it).astimezone(UTC)
        if fire > after:
            return fire
    raise ValidationError("cron: no fire time found", details={"cron": "never fires"})


def next_fires(expr: str, tz: ZoneInfo, after: datetime, count: int = 5) -> list[datetime]:
    out: list[datetime] = []
    cursor = after
    for _ in range(count):
        try:
            cursor = next_fire(expr, tz, cursor)
        except StopIteration:
            break
        out.append(cursor)
    return out


@dataclass(frozen=True)
class Due:
    fire_at: datetime  # the fire to run now: the latest one at or before ``now``
    skipped: tuple[datetime, ...]  # earlier missed fires, at most SKIPPED_KEPT of the latest
    skipped_count: int  # all of them
    next_fire_at: datetime  # the first fire after ``now``


def due(expr: str, tz: ZoneInfo, next_fire_at: datetime, now: datetime) -> Due | None:
    """What a schedule whose stored ``next_fire_at`` is due owes at ``now``; None if not yet due."""
    if next_fire_at > now:
        return None
    fires = [next_fire_at]
    cursor = next_fire_at
    jumped = False
    while True:
        if len(fires) > SCAN_LIMIT and not jumped:
            # A long outage of a frequent schedule: count the rest by walking the last day only.
            fires, jumped = fires[-SKIPPED_KEPT:], True
            cursor = max(cursor, now - timedelta(days=1))
        following = next_fire(expr, tz, cursor)
        if following > now:
            break
        fires.append(following)
        cursor = following
    skipped = fires[:-1]
    return Due(fire_at=fires[-1], skipped=tuple(skipped[-SKIPPED_KEPT:]),
               skipped_count=len(skipped) if not jumped else max(len(skipped), SCAN_LIMIT),
               next_fire_at=following)
