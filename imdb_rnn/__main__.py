"""`python -m imdb_rnn ...`: run one job (or a sweep with -m).

Hydra's override grammar reads `bucket=130_175` as the integer 130175 (underscores are digit
separators), so before Hydra sees the command line, option names of config groups that look like
numbers are quoted: `bucket=130_175` -> `bucket='130_175'`, also inside `-m` lists. Unknown options
of a config group are reported here in one line.
"""

import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter out of the logs

from imdb_rnn import UserError  # noqa: E402
from imdb_rnn.cli import config_dir  # noqa: E402

_OVERRIDE = re.compile(r"^(?P<prefix>\+{0,2}|~)(?P<group>[A-Za-z_][\w/]*)(?P<package>@[\w.]*)?=(?P<value>.*)$")
_NUMBER_LIKE = re.compile(r"^\d[\d_]*$")


def group_options(conf_dir: Path) -> dict[str, list[str]]:
    """{"arch": ["gru", "lstm", "rnn"], "tuner/search_space": ["classic"], ...} from the config dir."""
    groups = {}
    for folder in sorted(p for p in conf_dir.rglob("*") if p.is_dir()):
        options = sorted(f.stem for f in folder.glob("*.yaml"))
        if options:
            groups[folder.relative_to(conf_dir).as_posix()] = options
    return groups


def quote_group_options(args: list[str], groups: dict[str, list[str]]) -> list[str]:
    fixed = []
    for arg in args:
        match = _OVERRIDE.match(arg)
        value = match and match.group("value")
        if not match or match.group("group") not in groups or match.group("prefix") == "~" or not value or "(" in value:
            fixed.append(arg)  # not a plain group choice (flags, key=value, sweeps like choice(...), globs)
            continue
        group, options = match.group("group"), groups[match.group("group")]
        choices = [c.strip().strip("'\"") for c in value.split(",")]
        for choice in choices:
            if choice not in options and choice != "null":
                raise UserError(f"unknown {group} {choice!r}: choose from {', '.join(options)}")
        quoted = ",".join(f"'{c}'" if _NUMBER_LIKE.match(c) else c for c in choices)
        fixed.append(f"{match.group('prefix')}{group}{match.group('package') or ''}={quoted}")
    return fixed


def run() -> None:
    try:
        sys.argv[1:] = quote_group_options(sys.argv[1:], group_options(Path(config_dir())))
    except UserError as exc:
        print(f"imdb_rnn: error: {exc}", file=sys.stderr)
        sys.exit(2)
    from imdb_rnn.cli import main

    main()


if __name__ == "__main__":
    run()
