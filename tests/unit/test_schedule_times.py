"""Fire times over zoneinfo: aliases, validation, daylight-saving days and the missed-fire rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import ValidationError
from common.schedule_times import SKIPPED_KEPT, cron_expression, due, next_fire, next_fires, zone

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires_on(expr: str, tz_name: str, day_start_utc: datetime, hours: int = 48) -> list[datetime]:
    tz = zone(tz_name)
    out, cursor = [], day_start_utc
    while True:
        cursor = next_fire(expr, tz, cursor)
        if cursor > day_start_utc + timedelta(hours=hours):
            return out
        out.append(cursor)


@pytest.mark.parametrize(("alias", "expr"), [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"),
                                             ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"),
                                             ("  30   2 * * *  ", "30 2 * * *")])
def test_aliases_and_spacing(alias: str, expr: str) -> None:
    assert cron_expression(alias) == expr


@pytest.mark.parametrize("bad", ["", "* * * *", "0 0 0 * * *", "61 * * * *", "@often", None, 5, "x" * 300])
def test_bad_cron_is_a_validation_error(bad: object) -> None:
    with pytest.raises(ValidationError):
        cron_expression(bad)


@pytest.mark.parametrize("bad", ["Mars/Base", "", "../etc/passwd", None, "/etc/localtime"])
def test_bad_zone_is_a_validation_error(bad: object) -> None:
    with pytest.raises(ValidationError):
        zone(bad)


def test_spring_forward_fires_once_at_the_jump_berlin() -> None:
    # 2026-03-29: 02:00 CET → 03:00 CEST; 02:30 does not exist that day.
    fires = fires_on("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), hours=36)
    assert fires == [utc(2026, 3, 29, 1, 0)]  # 03:00 CEST, once
    assert fires[0].astimezone(BERLIN).hour == 3


def test_fall_back_fires_once_berlin() -> None:
    # 2026-10-25: 03:00 CEST → 02:00 CET; 02:30 happens twice, the schedule fires at the first.
    fires = fires_on("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), hours=36)
    assert fires == [utc(2026, 10, 25, 0, 30)]


def test_new_york_both_transitions() -> None:
    assert fires_on("30 2 * * *", "America/New_York", utc(2026, 3, 7, 17), hours=36) == [utc(2026, 3, 8, 7, 0)]
    # 2026-11-01: 02:00 EDT → 01:00 EST repeats 01:xx; 02:30 happens once (EST), 01:30 fires at its first pass.
    assert fires_on("30 2 * * *", "America/New_York", utc(2026, 10, 31, 17), hours=36) == [utc(2026, 11, 1, 7, 30)]
    assert fires_on("30 1 * * *", "America/New_York", utc(2026, 10, 31, 17), hours=36) == [utc(2026, 11, 1, 5, 30)]


def local(fires: list[datetime], tz_name: str) -> list[str]:
    return [f.astimezone(zone(tz_name)).strftime("%H:%M %Z") for f in fires]


def test_wildcard_schedules_fire_in_both_passes_of_the_repeated_hour() -> None:
    # Debian cron: a job with "*" in the minute or hour field runs on real time, so the 01:xx hour that
    # happens twice on New York's fall-back day (2026-11-01, 02:00 EDT → 01:00 EST) has both its fires.
    fires = fires_on("*/30 * * * *", "America/New_York", utc(2026, 11, 1, 4, 1), hours=3)
    assert local(fires, "America/New_York") == ["00:30 EDT", "01:00 EDT", "01:30 EDT", "01:00 EST", "01:30 EST",
                                                "02:00 EST"]  # three real hours, six fires
    assert fires == sorted(set(fires)) and all(b - a == timedelta(minutes=30) for a, b in itertools.pairwise(fires))
    # Only the minute fixed, or only the hour: still a wildcard job.
    assert local(fires_on("30 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 1), hours=4),
                 "Europe/Berlin") == ["01:30 CEST", "02:30 CEST", "02:30 CET", "03:30 CET"]
    assert local(fires_on("*/30 1 * * *", "America/New_York", utc(2026, 11, 1, 4), hours=4),
                 "America/New_York") == ["01:00 EDT", "01:30 EDT", "01:00 EST", "01:30 EST"]


def test_a_fixed_schedule_fires_once_in_the_repeated_hour() -> None:
    # Both hours fixed (a list is not a wildcard): 01:15 at its first pass only.
    assert local(fires_on("15 1,2 * * *", "America/New_York", utc(2026, 11, 1, 4), hours=5),
                 "America/New_York") == ["01:15 EDT", "02:15 EST"]


def test_wildcard_schedules_skip_the_hour_that_does_not_exist() -> None:
    # 2026-03-29 Berlin: 02:00 CET → 03:00 CEST; no 02:00 or 02:30 to fire, nothing doubled at 03:00.
    fires = fires_on("*/30 * * * *", "Europe/Berlin", utc(2026, 3, 28, 23, 1), hours=3)
    assert local(fires, "Europe/Berlin") == ["00:30 CET", "01:00 CET", "01:30 CET", "03:00 CEST", "03:30 CEST",
                                             "04:00 CEST"]


def test_an_outage_over_the_repeated_hour_counts_both_passes_as_missed() -> None:
    d = due("*/30 * * * *", BERLIN, utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 10))
    assert d is not None and d.fire_at == utc(2026, 10, 25, 2)  # 03:00 CET
    assert d.skipped == (utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30),
                         utc(2026, 10, 25, 1), utc(2026, 10, 25, 1, 30))  # 02:00 and 02:30 twice
    assert d.next_fire_at == utc(2026, 10, 25, 2, 30)


def test_after_the_first_pass_of_a_repeated_hour_the_next_fire_is_tomorrow() -> None:
    # From inside the second 02:xx of fall-back day, the next fire is not the (earlier) first 02:30.
    after = utc(2026, 10, 25, 1, 10)  # 02:10 CET, the second pass
    assert next_fire("30 2 * * *", BERLIN, after) == utc(2026, 10, 26, 1, 30)


def test_next_five_are_in_order_and_in_the_zone() -> None:
    fires = next_fires("0 9 * * 1-5", NEW_YORK, utc(2026, 12, 4, 20))  # a Friday evening
    assert [f.astimezone(NEW_YORK).strftime("%a %H:%M") for f in fires] == \
        ["Mon 09:00", "Tue 09:00", "Wed 09:00", "Thu 09:00", "Fri 09:00"]


def test_not_due_before_its_time() -> None:
    assert due("0 * * * *", BERLIN, utc(2026, 12, 2, 7), utc(2026, 12, 2, 6, 59)) is None


def test_on_time_fire_skips_nothing() -> None:
    d = due("0 * * * *", BERLIN, utc(2026, 12, 2, 7), utc(2026, 12, 2, 7, 0, 1))
    assert d is not None and d.fire_at == utc(2026, 12, 2, 7) and d.skipped == () and d.skipped_count == 0
    assert d.next_fire_at == utc(2026, 12, 2, 8)


def test_after_an_outage_the_latest_missed_fire_runs_and_the_others_are_skipped() -> None:
    d = due("0 * * * *", BERLIN, utc(2026, 12, 2, 1), utc(2026, 12, 2, 5, 30))
    assert d is not None
    assert d.fire_at == utc(2026, 12, 2, 5)
    assert d.skipped == (utc(2026, 12, 2, 1), utc(2026, 12, 2, 2), utc(2026, 12, 2, 3), utc(2026, 12, 2, 4))
    assert d.skipped_count == 4 and d.next_fire_at == utc(2026, 12, 2, 6)


def test_a_long_outage_of_a_frequent_schedule_stays_bounded() -> None:
    d = due("* * * * *", BERLIN, utc(2026, 11, 1), utc(2026, 12, 2, 5, 30, 30))
    assert d is not None and d.fire_at == utc(2026, 12, 2, 5, 30)
    assert len(d.skipped) == SKIPPED_KEPT and d.skipped_count >= 1000
    assert d.next_fire_at == utc(2026, 12, 2, 5, 31)
