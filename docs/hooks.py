"""MkDocs hooks of the documentation site (mkdocs.yml ``hooks:``).

The command-line reference is generated here, at every build, from the
argparse parser the ``microapi`` command itself uses: a page that contains
:data:`CLI_MARKER` gets it in the marker's place, so the page can never
disagree with ``microapi --help``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

#: Replaced by the generated reference (``docs/reference/cli.md``).
CLI_MARKER = "<!-- microapi-cli-reference -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%" in text:  # argparse's own expansion: %(default)s, %(prog)s
        text = text % dict(vars(action), prog=prog)
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        text += f" (one of: {', '.join(f'`{choice}`' for choice in action.choices)})"
    return _cell(text)


def _name(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    takes_value = action.nargs != 0
    metavar = action.metavar or action.dest.upper()
    return ", ".join(
        f"`{option} {metavar}`" if takes_value else f"`{option}`"
        for option in action.option_strings
    )


def _section(parser: argparse.ArgumentParser, level: str) -> list[str]:
    lines = [f"{level} `{parser.prog}`", ""]
    if parser.description:
        lines += [parser.description, ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    # NOTE: argparse has no public way to list a parser's arguments; _actions is the
    # list its own help formatter reads (sphinx-argparse reads it too).
    rows = [
        f"| {_name(action)} | {_help(action, parser.prog)} |"
        for action in parser._actions
        if action.help != argparse.SUPPRESS and not isinstance(action, argparse._SubParsersAction)
    ]
    if rows:
        lines += ["| argument | meaning |", "|---|---|", *rows, ""]
    return lines


def cli_reference() -> str:
    """Return the Markdown reference of every ``microapi`` command and option."""
    # NOTE: imported here, at build time, so that loading the hook imports nothing.
    from microapi.cli import _parser

    # The usage lines wrap at $COLUMNS: the same page whatever the terminal.
    columns, os.environ["COLUMNS"] = os.environ.get("COLUMNS"), "88"
    try:
        return _reference(_parser())
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


def _reference(parser: argparse.ArgumentParser) -> str:
    lines = _section(parser, "##")
    if parser.epilog:
        lines += ["```text", parser.epilog.strip(), "```", ""]
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {action.dest: action.help for action in commands._choices_actions}
    lines += ["| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#microapi-{name}) | {summaries[name]} |" for name in commands.choices]
    lines.append("")
    for sub in commands.choices.values():
        lines += _section(sub, "##")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put the generated CLI reference in the place of :data:`CLI_MARKER`."""
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    return markdown
