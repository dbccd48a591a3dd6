"""Half-hour arrival forecasts: what a queue should expect in each half hour of a week, learned from
the same weekday and half hour of the last weeks, and measured a week ahead on history.

The profile is a plain table (weekday x half hour -> expected contacts) so the engine can load it
from a file and look a half hour up without any model code. Times are wall-clock times of the
profile's `timezone` (UTC unless set): naive datetimes are taken as already on that clock, aware
datetimes and POSIX seconds are converted to it.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SLOT_SECONDS = 1800
DAY_SECONDS = 24 * 3600
WEEK = timedelta(days=7)
WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def read_half_hours(path: Path, slot_seconds: int = SLOT_SECONDS) -> dict[datetime, float]:
    """Counts per half hour (naive datetime of its start) from a CSV of `date,bin_start,calls`
    rows in shorter bins (the bank data: 6-minute bins, five to a half hour). The only I/O here
    besides the profile files."""
    counts: dict[datetime, float] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            hh, mm = row["bin_start"].split(":")
            seconds = int(hh) * 3600 + int(mm) * 60
            start = datetime.combine(date.fromisoformat(row["date"]), time()) + timedelta(
                seconds=seconds - seconds % slot_seconds
            )
            counts[start] = counts.get(start, 0.0) + float(row["calls"])
    return counts


class ForecastProfile(BaseModel):
    """Expected contacts per slot of each weekday (0 = Monday, as `datetime.weekday()`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slot_seconds: int = Field(SLOT_SECONDS, gt=0)
    timezone: str = Field("UTC", description="IANA zone of the wall clock the profile was learned on.")
    weekdays: dict[int, list[float]] = Field(description="Weekday (0 = Monday) -> expected contacts per slot.")
    method: str = Field("", description="How it was fitted, for the people reading the file.")
    fitted_until: date | None = Field(None, description="The first day not used: history ends the day before.")

    @model_validator(mode="after")
    def _complete(self) -> ForecastProfile:
        if DAY_SECONDS % self.slot_seconds:
            raise ValueError("slot_seconds must divide a day")
        if sorted(self.weekdays) != list(range(7)):
            raise ValueError("weekdays must be exactly 0..6 (0 = Monday)")
        slots = DAY_SECONDS // self.slot_seconds
        for day, values in self.weekdays.items():
            if len(values) != slots:
                raise ValueError(f"weekday {day}: {len(values)} values, expected {slots}")
            if not all(math.isfinite(v) and v >= 0 for v in values):
                raise ValueError(f"weekday {day}: expected counts must be finite and >= 0")
        try:
            self._zone()  # an unknown zone fails on load, not on the first lookup
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r}") from None
        return self

    def _zone(self) -> tzinfo:
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)

    def expected(self, at: datetime | float) -> float:
        """Expected contacts in the slot containing `at` (a datetime, or POSIX seconds)."""
        if isinstance(at, datetime):
            local = at if at.tzinfo is None else at.astimezone(self._zone())
        else:
            local = datetime.fromtimestamp(at, self._zone())
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        return self.weekdays[local.weekday()][seconds // self.slot_seconds]

    def rate(self, at: datetime | float) -> float:
        """Expected arrivals per second in that slot: the arrival rate Erlang C/A take."""
        return self.expected(at) / self.slot_seconds


def save_profile(profile: ForecastProfile, path: Path) -> None:
    """Write the profile as YAML (one line of slot values per weekday)."""
    text = yaml.safe_dump(profile.model_dump(), sort_keys=False, default_flow_style=None, width=100_000)
    path.write_text(text)


def load_profiles(paths: Mapping[str, Path]) -> dict[str, ForecastProfile]:
    """Each queue's profile, as a routing config names them."""
    return {queue: load_profile(path) for queue, path in paths.items()}


def load_profile(path: Path) -> ForecastProfile:
    """Read a profile written by save_profile (YAML, or the same document as JSON)."""
    return ForecastProfile.model_validate(yaml.safe_load(path.read_text()))


class NoHistory(ValueError):
    """The window before the forecast day holds no day of some weekday: nothing to forecast it by."""


@dataclass(frozen=True)
class SeasonalProfile:
    """Forecast each half hour by the same weekday and half hour of the last `weeks` weeks.

    Days whose total is below `screen_below` x the median total of that weekday in the window
    (holidays, outages: the bank's Yom Kippur Monday had 161 calls, a Saturday 36) are left out
    first, so one odd day does not drag its weekday down for `weeks` weeks; 0 keeps every day.
    `weeks=1, screen_below=0` is the seasonal naive forecast (the latest same half hour).
    """

    weeks: int = 8
    screen_below: float = 0.6
    statistic: Literal["mean", "median"] = "mean"
    slot_seconds: int = SLOT_SECONDS

    def describe(self) -> str:
        if self.weeks == 1 and self.screen_below == 0:
            return "seasonal naive (the same half hour of the latest week)"
        screen = f", days below {self.screen_below:.0%} of the weekday's median left out" if self.screen_below else ""
        return f"{self.statistic} of the same weekday and half hour over {self.weeks} weeks{screen}"

    def fit(self, counts: Mapping[datetime, float], until: date) -> ForecastProfile:
        """A profile from the `weeks` weeks of days strictly before `until` (a datetime counts
        from its date: the day it falls on is not used). Days absent from `counts` are skipped."""
        first_unused = until.date() if isinstance(until, datetime) else until
        weekdays = {}
        for weekday in range(7):
            days = self._history(counts, first_unused, weekday)
            if not len(days):
                raise NoHistory(f"no {WEEKDAY_NAMES[weekday]} in the {self.weeks} weeks before {first_unused}")
            totals = np.nansum(days, axis=1)
            days = days[totals >= self.screen_below * np.median(totals)]
            with warnings.catch_warnings():  # a slot missing on every kept day: expect nothing
                warnings.simplefilter("ignore", RuntimeWarning)
                values = np.nanmean(days, axis=0) if self.statistic == "mean" else np.nanmedian(days, axis=0)
            weekdays[weekday] = [round(float(v), 3) for v in np.nan_to_num(values)]
        return ForecastProfile(
            slot_seconds=self.slot_seconds, weekdays=weekdays, method=self.describe(), fitted_until=first_unused
        )

    def _history(self, counts: Mapping[datetime, float], first_unused: date, weekday: int) -> np.ndarray:
        """Rows of slot counts (NaN where absent), one per day of that weekday in the window."""
        slots = DAY_SECONDS // self.slot_seconds
        rows = []
        for back in range(1, 7 * self.weeks + 1):
            day = first_unused - timedelta(days=back)
            if day.weekday() != weekday:
                continue
            midnight = datetime.combine(day, time())
            row = [counts.get(midnight + timedelta(seconds=s * self.slot_seconds), math.nan) for s in range(slots)]
            if not all(math.isnan(v) for v in row):
                rows.append(row)
        return np.array(rows, dtype=float).reshape(len(rows), slots)


@dataclass(frozen=True)
class Accuracy:
    half_hours: int
    actual_total: float
    wape: float  # sum |forecast - actual| / sum actual
    mae: float  # mean |forecast - actual| per half hour, contacts
    bias: float  # (sum forecast - sum actual) / sum actual: > 0 over-forecasts

    def as_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in ("half_hours", "actual_total", "wape", "mae", "bias")}


def accuracy(forecast: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray) -> Accuracy:
    f, a = np.asarray(forecast, dtype=float), np.asarray(actual, dtype=float)
    total = float(a.sum())
    error = f - a
    return Accuracy(
        half_hours=len(a),
        actual_total=total,
        wape=float(np.abs(error).sum() / total) if total else math.nan,
        mae=float(np.abs(error).mean()) if len(a) else math.nan,
        bias=float(error.sum() / total) if total else math.nan,
    )


@dataclass(frozen=True)
class Backtest:
    """Forecast and actual of every half hour of the target weeks."""

    at: list[datetime]
    forecast: np.ndarray
    actual: np.ndarray

    def accuracy(self, where: Callable[[datetime], bool] | None = None) -> Accuracy:
        keep = np.array([where is None or where(t) for t in self.at], dtype=bool)
        return accuracy(self.forecast[keep], self.actual[keep])


def target_weeks(counts: Mapping[datetime, float], first: date) -> Iterator[date]:
    """Week starts from `first`, every 7 days, while the data reaches into the week."""
    last = max(counts).date()
    week = first
    while week <= last:
        yield week
        week += WEEK


def backtest(
    counts: Mapping[datetime, float], method: SeasonalProfile, first_week: date, lead: timedelta = WEEK
) -> Backtest:
    """Forecast each week from `first_week` on with a profile fitted only on the half hours before
    (week start - lead): with the default lead, every forecast half hour is 7 to 14 days after the
    last one the fit saw, as when next week's schedule is published a week in advance. The history
    handed to the fit is cut here, so no method can see inside the horizon."""
    at: list[datetime] = []
    forecast: list[float] = []
    actual: list[float] = []
    slot = timedelta(seconds=method.slot_seconds)
    for week in target_weeks(counts, first_week):
        start = datetime.combine(week, time())
        cutoff = start - lead
        history = {t: v for t, v in counts.items() if t < cutoff}
        profile = method.fit(history, cutoff.date())
        for k in range(int(WEEK / slot)):
            t = start + k * slot
            if t in counts:
                at.append(t)
                forecast.append(profile.expected(t))
                actual.append(counts[t])
    return Backtest(at, np.array(forecast), np.array(actual))
