"""The half-hour arrivals forecaster: what it learns, what it may see, the file the engine loads, and
how it does a week ahead on the real bank data."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from contact_router.staffing.forecast import (
    WEEK,
    ForecastProfile,
    SeasonalProfile,
    accuracy,
    backtest,
    load_profile,
    read_half_hours,
    save_profile,
)

ROOT = Path(__file__).resolve().parents[2]
BANK_CSV = ROOT.parent / "shared" / "data" / "anonymous_bank_1999_arrivals_6min.csv"
HALF_HOUR = timedelta(minutes=30)
START = datetime(1999, 1, 3)  # a Sunday


def pattern(t: datetime) -> float:
    """A known weekly pattern: every weekday and half hour its own level."""
    return 10.0 * (t.weekday() + 1) + (t.hour * 2 + t.minute // 30)


def series(weeks: int, value=pattern) -> dict[datetime, float]:  # noqa: ANN001
    return {START + k * HALF_HOUR: value(START + k * HALF_HOUR) for k in range(weeks * 7 * 48)}


def test_the_profile_recovers_a_known_seasonal_pattern() -> None:
    counts = series(10)
    until = date(1999, 3, 14)  # ten whole weeks after START
    profile = SeasonalProfile(weeks=8).fit(counts, until)
    for k in range(7 * 48):
        t = datetime.combine(until, datetime.min.time()) + k * HALF_HOUR
        assert profile.expected(t) == pytest.approx(pattern(t))


def test_a_holiday_in_the_window_is_screened_out_but_drags_a_plain_mean_down() -> None:
    counts = series(10)
    holiday = date(1999, 2, 24)  # a Wednesday inside the 8-week window
    for k in range(48):
        counts[datetime.combine(holiday, datetime.min.time()) + k * HALF_HOUR] = 0.0
    until = date(1999, 3, 14)
    wednesday_noon = datetime(1999, 3, 17, 12)
    assert SeasonalProfile().fit(counts, until).expected(wednesday_noon) == pytest.approx(pattern(wednesday_noon))
    plain = SeasonalProfile(screen_below=0).fit(counts, until).expected(wednesday_noon)
    assert plain == pytest.approx(pattern(wednesday_noon) * 7 / 8)


def test_the_fit_uses_only_days_before_until() -> None:
    counts = series(10)
    for t in counts:
        if t.date() >= date(1999, 3, 7):
            counts[t] = 1000.0  # the last week differs: a fit until 03-07 must not see it
    assert SeasonalProfile().fit(counts, date(1999, 3, 7)).expected(datetime(1999, 3, 8, 9)) == pattern(
        datetime(1999, 3, 8, 9)
    )
    # ...and a fit until 03-14 does (seasonal naive: the latest week only)
    assert SeasonalProfile(weeks=1, screen_below=0).fit(counts, date(1999, 3, 14)).expected(datetime(1999, 3, 8, 9)) == 1000


def test_the_backtest_never_sees_inside_the_horizon() -> None:
    """Target week 03-07..03-13 with a 7-day lead: the fit may use half hours before 02-28 only.
    Raising everything from 02-28 on must leave the forecasts of that week unchanged (a fit that
    leaked would follow the raise), while raising the last half hour before 02-28 must show up."""
    week = date(1999, 3, 7)
    base = series(10)

    def forecasts(counts: dict[datetime, float]) -> dict[datetime, float]:
        result = backtest(counts, SeasonalProfile(weeks=1, screen_below=0), week)
        return {t: f for t, f in zip(result.at, result.forecast, strict=True) if t.date() < week + WEEK}

    raised_inside = {t: v + 1000 if t >= datetime(1999, 2, 28) else v for t, v in base.items()}
    assert forecasts(raised_inside) == forecasts(base)
    last_seen = datetime(1999, 2, 27, 23, 30)
    raised_edge = {**base, last_seen: 555.0}
    changed = {t for t, f in forecasts(raised_edge).items() if f != forecasts(base)[t]}
    assert changed == {last_seen + 2 * WEEK}  # 14 days on: the latest half hour the fit may see


def test_seasonal_naive_without_lead_is_the_same_half_hour_a_week_earlier() -> None:
    counts = series(4, value=lambda t: float(t.day * 100 + t.hour))
    result = backtest(counts, SeasonalProfile(weeks=1, screen_below=0), date(1999, 1, 17), lead=timedelta(0))
    assert len(result.at) == 2 * 7 * 48
    for t, f in zip(result.at, result.forecast, strict=True):
        assert f == counts[t - WEEK]


def test_accuracy_figures() -> None:
    a = accuracy([12, 8, 0], [10, 10, 0])
    assert (a.wape, a.mae, a.bias, a.half_hours) == (pytest.approx(0.2), pytest.approx(4 / 3), 0.0, 3)
    assert accuracy([15, 15], [10, 10]).bias == pytest.approx(0.5)


def coded_profile() -> ForecastProfile:
    return ForecastProfile(weekdays={d: [100.0 * d + s for s in range(48)] for d in range(7)})


def test_expected_picks_the_slot_across_day_and_week_boundaries() -> None:
    p = coded_profile()
    assert p.expected(datetime(1999, 1, 2, 23, 59, 59)) == 547  # Saturday, last half hour
    assert p.expected(datetime(1999, 1, 3, 0, 0)) == 600  # Sunday, first half hour
    assert p.expected(datetime(1999, 1, 3, 23, 30)) == 647
    assert p.expected(datetime(1999, 1, 4, 0, 0)) == 0  # Sunday -> Monday: the week wraps
    assert p.expected(datetime(1999, 1, 4, 0, 29, 59)) == 0
    assert p.expected(datetime(1999, 1, 4, 0, 30)) == 1
    sunday_noon_utc = datetime(1999, 1, 3, 12, tzinfo=UTC)
    assert p.expected(sunday_noon_utc.timestamp()) == 624  # POSIX seconds are UTC on a UTC profile
    assert p.expected(datetime(1999, 1, 4, 1, 30, tzinfo=timezone(timedelta(hours=2)))) == 647  # Sun 23:30 UTC
    assert p.rate(datetime(1999, 1, 4, 0, 30)) == pytest.approx(1 / 1800)


def test_a_profile_on_local_time_converts_instants_to_its_clock() -> None:
    p = ForecastProfile.model_validate({**coded_profile().model_dump(), "timezone": "Asia/Jerusalem"})
    instant = datetime(1999, 1, 3, 22, 0, tzinfo=UTC)  # Monday 00:00 in Israel (UTC+2 in winter)
    assert p.expected(instant) == 0
    assert p.expected(instant.timestamp()) == 0
    assert p.expected(datetime(1999, 1, 3, 22, 0)) == 644  # naive: already the profile's clock


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    profile = SeasonalProfile().fit(series(9), date(1999, 3, 7))
    save_profile(profile, tmp_path / "p.yaml")
    assert load_profile(tmp_path / "p.yaml") == profile
    (tmp_path / "p.json").write_text(json.dumps(profile.model_dump(mode="json")))
    assert load_profile(tmp_path / "p.json") == profile
    assert "fitted_until: 1999-03-07" in (tmp_path / "p.yaml").read_text()


@pytest.mark.parametrize(
    "change",
    [
        {"weekdays": {d: [1.0] * 47 for d in range(7)}},
        {"weekdays": {d: [1.0] * 48 for d in range(6)}},
        {"weekdays": {d: [-1.0] * 48 for d in range(7)}},
        {"timezone": "Mars/Olympus"},
        {"slot_seconds": 7 * 60},
    ],
)
def test_a_broken_profile_file_is_refused(change: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError):
        ForecastProfile.model_validate({**coded_profile().model_dump(), **change})


def test_reading_the_bank_csv_sums_the_six_minute_bins_of_a_day() -> None:
    with BANK_CSV.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["date"] == "1999-03-15"]
    assert len(rows) == 240
    counts = read_half_hours(BANK_CSV)
    day = [v for t, v in counts.items() if t.date() == date(1999, 3, 15)]
    assert len(day) == 48
    assert sum(day) == pytest.approx(sum(float(r["calls"]) for r in rows))
    assert round(sum(day)) == 1706
    ten = sum(float(r["calls"]) for r in rows if r["bin_start"] in {"10:00", "10:06", "10:12", "10:18", "10:24"})
    assert counts[datetime(1999, 3, 15, 10)] == pytest.approx(ten)
    assert len(counts) == 365 * 48


def test_the_profile_beats_seasonal_naive_a_week_ahead_on_the_bank_data() -> None:
    """Even with the naive forecast given its best case (the same half hour 7 days before, while
    the profile is fitted a week before the target week starts)."""
    counts = read_half_hours(BANK_CSV)
    first = date(1999, 2, 28)
    chosen = backtest(counts, SeasonalProfile(), first)
    naive = backtest(counts, SeasonalProfile(weeks=1, screen_below=0), first, lead=timedelta(0))
    assert chosen.at == naive.at
    assert chosen.accuracy().wape < naive.accuracy().wape - 0.05

    def busy(t: datetime) -> bool:
        return t.weekday() in (6, 0, 1, 2, 3) and t.hour >= 7

    assert chosen.accuracy(busy).wape < naive.accuracy(busy).wape - 0.05


def test_the_forecast_command_writes_the_profile_the_engine_loads(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from contact_router.cli import app

    out = tmp_path / "retail.yaml"
    args = ["forecast", "--csv", str(BANK_CSV), "--until", "1999-03-01", "--weeks", "4", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--timezone", "Asia/Jerusalem"])
    assert result.exit_code == 0, result.output
    profile = load_profile(out)
    assert profile.fitted_until == date(1999, 3, 1) and profile.timezone == "Asia/Jerusalem"
    assert profile == SeasonalProfile(weeks=4).fit(read_half_hours(BANK_CSV), date(1999, 3, 1)).model_copy(
        update={"timezone": "Asia/Jerusalem"}
    )
    too_early = CliRunner().invoke(app, [*args[:4], "1999-01-02", *args[5:]])
    assert too_early.exit_code == 2 and "no Monday" in too_early.output
