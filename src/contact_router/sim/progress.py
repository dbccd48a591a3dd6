"""A progress bar with a live summary while a simulation runs (rich), only on a terminal: piped
output gets the plain summary lines and the final report, nothing that redraws."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def interactive() -> bool:
    return sys.stdout.isatty()


def live_summary(arrived: int, answered: int, abandoned: int, waiting: int, service_level: float) -> str:
    sl = "  -  " if service_level != service_level else f"{service_level:5.1%}"  # nan before any answer
    return f"arrived {arrived}  answered {answered}  abandoned {abandoned}  waiting {waiting}  SL {sl}"


class ProgressBar:
    """Simulated time done out of the run's length, with the live summary beside it."""

    def __init__(self, total_seconds: float, title: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.fields[title]}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}% of {task.fields[hours]} h"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[summary]}"),
            console=Console(),
            transient=False,
        )
        hours = f"{total_seconds / 3600:.2f}" if total_seconds < float("inf") else "inf"
        self._task = self._progress.add_task(
            "sim", total=total_seconds if total_seconds < float("inf") else None, title=title, hours=hours, summary=""
        )

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def update(self, done_seconds: float, summary: str) -> None:
        self._progress.update(self._task, completed=done_seconds, summary=summary)
