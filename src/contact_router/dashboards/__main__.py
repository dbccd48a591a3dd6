"""`python -m contact_router.dashboards [--out grafana/dashboards] [--check]`: write (or verify) the JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contact_router.dashboards import BOARDS, render, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contact_router.dashboards", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("grafana/dashboards"), help="directory of the JSON files")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    if not args.check:
        for path in write(args.out):
            print(path)
        return 0
    stale = [
        path
        for name, build in BOARDS.items()
        if not (path := args.out / f"{name}.json").is_file() or path.read_text(encoding="utf-8") != render(build())
    ]
    for path in stale:
        print(f"out of date: {path} (run python -m contact_router.dashboards)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
