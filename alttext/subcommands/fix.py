"""``alttext fix`` and ``alttext apply``: write alt text, or reviewed reports, into the files."""

from __future__ import annotations

import argparse

from alttext.config import load_settings
from alttext.fixing import commands
from alttext.options import given


def run(args: argparse.Namespace) -> int:
    settings = load_settings(given(args), config_path=args.config)
    mode = commands.Mode(args.diff, args.dry_run, args.exit_zero_even_if_changed, settings.quiet)
    if args.command == "apply":
        return commands.apply(args.reports, settings, mode)
    return commands.fix(args.paths, settings, mode, report=args.report, shard=args.shard)
