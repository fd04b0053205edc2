"""The `imagesearch` subcommands, one module per group.

Each module has `add_parser(subparsers)`, which adds its subcommands to the top-level
parser and sets each one's `func` default to a handler `(argparse.Namespace) -> int` (the
exit status). imagesearch.cli lists the modules in COMMAND_GROUPS.
"""
