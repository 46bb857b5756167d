"""sse-stats: check a submission before sending it (NSO self-check).

Reads the file exactly as the pipeline does, harmonises it and runs the
level 0-1 rules. Writes nothing under data/. Exit codes: 0 no error findings
(warnings allowed), 1 error findings, 2 unusable input or usage error.

`sse-stats check-register FILE [--mapping NAME] [--format text|json]` checks a
unit-level register the same way (columns, unit rules, codes), per country and
year, before anything is aggregated; same exit codes.

`sse-stats export [--lang en|fr|es] [--curated DIR]` writes the ICLS background
tables (XLSX, CSV, SDMX-CSV, ILOSTAT layout) from the curated store, after
disclosure control, under DIR/exports only. Exit 0 written, 2 usage or store
error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from sse_stats import __version__
from sse_stats.errors import SseStatsError, UsageError
from sse_stats.settings import Paths

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors map to exit 2
    cleanly."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sse-stats",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"sse-stats {__version__}"
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser
    )
    check = commands.add_parser(
        "check", help="validate one submission file (levels 0-1)"
    )
    check.add_argument("file", type=Path, help="the CSV file to check")
    check.add_argument(
        "--country",
        help="ISO 3166-1 alpha-3 code of a national layout "
        "(schemas/mappings/<ISO3>.yaml); not needed for the canonical template",
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--schemas", type=Path, default=None, help=argparse.SUPPRESS)
    register = commands.add_parser(
        "check-register",
        help="validate a unit-level register (one row per unit, CSV or Parquet)",
    )
    register.add_argument("file", type=Path, help="the register (.csv or .parquet)")
    register.add_argument(
        "--mapping",
        default="make_register",
        help="the register mapping (schemas/registers/<name>.yaml)",
    )
    register.add_argument("--format", choices=("text", "json"), default="text")
    register.add_argument(
        "--limit", type=int, default=50, help="findings listed per rule and country"
    )
    register.add_argument("--schemas", type=Path, default=None, help=argparse.SUPPRESS)
    export = commands.add_parser(
        "export",
        help="write the ICLS background tables under CURATED/exports "
        "(after disclosure control)",
    )
    export.add_argument(
        "--lang",
        choices=("en", "fr", "es"),
        default=None,
        help="one language only (default: English, French and Spanish)",
    )
    export.add_argument(
        "--curated",
        type=Path,
        default=None,
        help="the curated folder (default data/curated)",
    )
    export.add_argument("--schemas", type=Path, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (never raises a traceback)."""
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        print(f"sse-stats: {exc.description}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "check":
        return _check(args)
    if args.command == "export":
        return _export(args)
    if args.command == "check-register":
        return _check_register(args)
    return EXIT_USAGE  # pragma: no cover - argparse requires a command


def _check(args: argparse.Namespace) -> int:
    from sse_stats.check import check_submission  # heavy imports only when checking

    schemas = args.schemas or Paths.default().schemas
    if not args.file.is_file():
        message = f"{args.file}: no such file (rule: file_is_readable)"
        if args.format == "json":
            print(
                json.dumps(
                    {
                        "file": args.file.name,
                        "findings": [
                            {
                                "file": args.file.name,
                                "row": None,
                                "column": None,
                                "value": None,
                                "rule": "file_is_readable",
                                "level": 0,
                                "severity": "error",
                                "message": message,
                            }
                        ],
                        "summary": [],
                        "errors": 1,
                        "warnings": 0,
                        "infos": 0,
                    }
                )
            )
        else:
            print(message, file=sys.stderr)
        return EXIT_USAGE
    try:
        report = check_submission(args.file, schemas_dir=schemas, country=args.country)
    except SseStatsError as exc:
        print(f"sse-stats: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(report.to_json() if args.format == "json" else report.head_text())
    return report.exit_code


def _check_register(args: argparse.Namespace) -> int:
    from sse_stats.register.process import validation_only
    from sse_stats.register.report import RegisterCheck
    from sse_stats.validate.catalogue import cached_rules

    schemas = args.schemas or Paths.default().schemas
    if not args.file.is_file():
        print(f"sse-stats: {args.file}: no such file", file=sys.stderr)
        return EXIT_USAGE
    if args.limit < 1:
        print("sse-stats: --limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        validation = validation_only(
            args.file, schemas, mapping=args.mapping, limit=args.limit
        )
        catalogue = cached_rules((schemas / "rules").resolve())
    except SseStatsError as exc:
        print(f"sse-stats: {exc}", file=sys.stderr)
        return EXIT_USAGE
    check = RegisterCheck(
        file=args.file.name,
        mapping=args.mapping,
        validation=validation,
        catalogue=catalogue,
    )
    print(check.to_json() if args.format == "json" else check.text())
    return check.exit_code


def _export(args: argparse.Namespace) -> int:
    from sse_stats.publish.export import LANGUAGES, export_background_tables

    default = Paths.default()
    curated = args.curated or default.curated
    languages = [args.lang] if args.lang else list(LANGUAGES)
    try:
        result = export_background_tables(
            curated, args.schemas or default.schemas, languages=languages
        )
    except SseStatsError as exc:
        print(f"sse-stats: {exc}", file=sys.stderr)
        return EXIT_USAGE
    primary = ", ".join(
        f"{k} {v}" for k, v in sorted(result.protection.primary.items())
    )
    print(
        f"{len(result.files)} files written under {result.root} "
        f"(suppressed cells: by the NSO {result.protection.nso}; "
        f"primary {primary or 'none'}; secondary {result.protection.secondary})"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
