"""One module per `loadgen` subcommand; each has `register(commands)` that adds its parser.

A command's parser sets `handler=`, a function `(args, console) -> exit code`. Flag groups that several
commands share live in `loadgen.cli.commands.common`.
"""
