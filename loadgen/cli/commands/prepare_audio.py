"""`loadgen prepare-audio`: validate and convert a corpus to 16 kHz mono PCM16."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from loadgen.core.errors import EXIT_OK, EXIT_SETUP
from loadgen.data.prepare_audio import format_report, prepare_audio


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `prepare-audio` parser."""
    prep = commands.add_parser("prepare-audio", help="validate and convert a corpus to 16 kHz mono PCM16")
    prep.add_argument("src", type=Path, help="source directory (wav+txt pairs, LJSpeech, or plain audio)")
    prep.add_argument("dst", type=Path, help="output directory (written as NAME.wav + NAME.txt pairs)")
    prep.add_argument("--no-reference", action="store_true", help="accept audio without transcripts")
    prep.set_defaults(handler=command_prepare_audio)


def command_prepare_audio(args: argparse.Namespace, console: Console) -> int:
    """Exit 0 when at least one usable file was written, 3 otherwise."""
    report = prepare_audio(args.src, args.dst, require_reference=not args.no_reference)
    console.print(format_report(report), highlight=False, markup=False, soft_wrap=True)
    return EXIT_OK if report.written else EXIT_SETUP
