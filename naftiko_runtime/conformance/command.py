"""``naftiko conformance [PATH...]``: run the suite, print one line per case and a table by feature."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from xml.etree import ElementTree as ET

from .cases import CaseError, load_cases
from .runner import ERROR, FAIL, NOT_IMPLEMENTED, PASS, Result, run_case
from .variants import SUFFIX, beta4_variant

if TYPE_CHECKING:
    from .drivers import BlackBoxDriver, InProcessDriver

DEFAULT_PATH = Path("conformance")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="naftiko conformance",
        description="Run the Naftiko conformance suite: cases (YAML) under PATH, against this runtime "
        "in-process (default) or any runtime as a black box (--server-command).",
        epilog="Black-box example: naftiko conformance conformance/ "
        "--server-command 'naftiko serve {capability}' --validate-command 'naftiko validate {capability}' "
        "--features loading,binds,simple,rest. Format of the cases: conformance/README.md.",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="case files or folders (default: ./conformance)")
    p.add_argument(
        "-k",
        "--filter",
        action="append",
        default=[],
        metavar="TEXT",
        help="run only cases whose id contains TEXT (repeatable: any of them)",
    )
    p.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--json", type=Path, metavar="FILE", help="write a JSON report")
    p.add_argument(
        "--server-command",
        metavar="TEMPLATE",
        help="black-box mode: command that serves {capability} (the file paths); {options} gets the "
        "serve options as --timeout/--read-timeout/--connect-timeout/--max-body-size flags",
    )
    p.add_argument(
        "--validate-command",
        metavar="TEMPLATE",
        help="black-box mode: command that validates {capability}, printing file:line:col: "
        "error|warning: message lines and exiting non-zero when invalid",
    )
    p.add_argument(
        "--features",
        metavar="A,B,...",
        help="black-box mode: the features the runtime implements (default: this runtime's list)",
    )
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="black-box mode: time allowed for the server's ports to open",
    )
    p.add_argument("--list", action="store_true", help="list the cases and their features; run nothing")
    p.add_argument("--keep", action="store_true", help="keep each case's temporary folder (debugging)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only failing cases and the table")
    return p


def make_driver(args: argparse.Namespace) -> InProcessDriver | BlackBoxDriver:
    if args.server_command or args.validate_command:
        from .drivers import BlackBoxDriver

        if args.features is not None:
            features = {f.strip() for f in args.features.split(",") if f.strip()}
        else:
            from naftiko_runtime.serving.features import IMPLEMENTED

            features = set(IMPLEMENTED)
        return BlackBoxDriver(args.server_command, args.validate_command, features, args.startup_timeout)
    from .drivers import InProcessDriver

    driver = InProcessDriver()
    if args.features is not None:
        driver.implemented = {f.strip() for f in args.features.split(",") if f.strip()}
    return driver


def run(
    paths: list[Path],
    driver: InProcessDriver | BlackBoxDriver,
    filters: Sequence[str] = (),
    out: TextIO | None = None,
    quiet: bool = False,
    keep: bool = False,
) -> list[Result]:
    out = out or sys.stdout
    cases = load_cases(paths)
    if filters:
        cases = [c for c in cases if any(f in c.id or f in c.id + SUFFIX for f in filters)]
    cases = [twin for case in cases for twin in (case, beta4_variant(case)) if twin is not None]
    if filters:
        cases = [c for c in cases if any(f in c.id for f in filters)]
    results = []
    for case in cases:
        # Black-box mode cannot serve without a server command, nor validate without a validate command.
        result = run_case(case, driver, keep)
        results.append(result)
        if not quiet or result.status in (FAIL, ERROR):
            line = f"{result.status:<15} {case.id}"
            if result.status == NOT_IMPLEMENTED:
                line += f"  ({', '.join(result.missing)})"
            elif result.status != PASS or not quiet:
                line += f"  [{result.duration:.2f}s]" if result.status == PASS else ""
            print(line, file=out)
            for message in result.messages if result.status in (FAIL, ERROR) else []:
                print("    " + message.replace("\n", "\n    "), file=out)
    return results


def table(results: list[Result]) -> str:
    """Passed / failed / not implemented (/ errors) by feature, then by area, then the total."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    areas: dict[str, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    for result in results:
        for feature in result.case.features or ["(none)"]:
            rows[feature][result.status] += 1
        areas[result.case.area][result.status] += 1
        total[result.status] += 1

    def line(name: str, counts: Counter[str]) -> str:
        return (
            f"{name:<22} {counts[PASS]:>6} {counts[FAIL]:>6} {counts[NOT_IMPLEMENTED]:>8} {counts[ERROR]:>6} "
            f"{sum(counts.values()):>6}"
        )

    header = f"{'':<22} {'passed':>6} {'failed':>6} {'not-impl':>8} {'errors':>6} {'cases':>6}"
    lines = [f"{'feature':<22}" + header[22:], "-" * len(header)]
    lines += [line(name, rows[name]) for name in sorted(rows)]
    lines += ["-" * len(header), f"{'area':<22}" + header[22:], "-" * len(header)]
    lines += [line(name, areas[name]) for name in sorted(areas)]
    lines += ["-" * len(header), line("total", total)]
    return "\n".join(lines)


def write_junit(results: list[Result], path: Path, driver_name: str) -> None:
    counts = Counter(r.status for r in results)
    suite = ET.Element(
        "testsuite",
        name="naftiko-conformance",
        tests=str(len(results)),
        failures=str(counts[FAIL]),
        errors=str(counts[ERROR]),
        skipped=str(counts[NOT_IMPLEMENTED]),
        time=f"{sum(r.duration for r in results):.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="driver", value=driver_name)
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{result.case.area}",
            name=result.case.id,
            file=str(result.case.file),
            time=f"{result.duration:.3f}",
        )
        text = "\n".join(result.messages)
        if result.status == FAIL:
            ET.SubElement(case, "failure", message=result.messages[0] if result.messages else "failed").text = text
        elif result.status == ERROR:
            ET.SubElement(case, "error", message=result.messages[0] if result.messages else "error").text = text
        elif result.status == NOT_IMPLEMENTED:
            ET.SubElement(case, "skipped", message="not implemented: " + ", ".join(result.missing))
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def write_json(results: list[Result], path: Path, driver_name: str) -> None:
    features: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        for feature in result.case.features:
            features[feature][result.status] += 1
    document = {
        "driver": driver_name,
        "summary": dict(Counter(r.status for r in results)),
        "features": {
            name: {"passed": c[PASS], "failed": c[FAIL], "not_implemented": c[NOT_IMPLEMENTED], "errors": c[ERROR]}
            for name, c in sorted(features.items())
        },
        "cases": [
            {
                "id": r.case.id,
                "title": r.case.title,
                "area": r.case.area,
                "file": str(r.case.file),
                "checks": r.case.checks,
                "features": r.case.features,
                "status": r.status,
                "messages": r.messages,
                "missing_features": r.missing,
                "duration": round(r.duration, 3),
            }
            for r in results
        ],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if argv[:1] == ["--"]:  # `naftiko conformance -- --help`: the `--` that got options past `naftiko`
        argv = argv[1:]
    args = parser().parse_args(argv)
    paths = args.paths or [DEFAULT_PATH]
    try:
        if args.list:
            for case in [t for c in load_cases(paths) for t in (c, beta4_variant(c)) if t is not None]:
                print(f"{case.id:<60} {','.join(case.features):<30} {' '.join(case.checks)}")
            return 0
        driver = make_driver(args)
        started = time.monotonic()
        results = run(paths, driver, args.filter, quiet=args.quiet, keep=args.keep)
    except CaseError as exc:
        print(f"naftiko conformance: {exc}", file=sys.stderr)
        return 2
    print()
    print(table(results))
    counts = Counter(r.status for r in results)
    print(
        f"\n{len(results)} cases in {time.monotonic() - started:.1f}s ({driver.name}): {counts[PASS]} passed, "
        f"{counts[FAIL]} failed, {counts[NOT_IMPLEMENTED]} not implemented, {counts[ERROR]} errors"
    )
    if args.junit:
        write_junit(results, args.junit, driver.name)
    if args.json:
        write_json(results, args.json, driver.name)
    return 1 if counts[FAIL] or counts[ERROR] or not results else 0
