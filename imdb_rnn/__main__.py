"""`python -m imdb_rnn ...`: run one job (or a sweep with -m).

Hydra's override grammar reads `bucket=130_175` as the integer 130175 (underscores are digit
separators), so before Hydra sees the command line, option names of config groups that look like
numbers are quoted: `bucket=130_175` -> `bucket='130_175'`, also inside `-m` lists. Unknown options
of a config group are reported here in one line, and so are mistyped settings (`train.epoch=3`): Hydra's
own message suggests `+train.epoch=3`, which would add a setting that nothing reads. Two of Hydra's modes
at once (`-m --cfg job`), which Hydra answers with a traceback, are one line too.

In a sweep, each job dir is named arch_bucket plus the other overrides that vary between jobs
(conf/config.yaml, hydra.sweep.subdir). Overrides given one value for the whole sweep
(experiment=quick, data.path=/some/where) would only repeat in every name (and a path's "/" would
nest dirs), so they are added to hydra's exclude_keys here, where the command line is known.

Exit status: 1 when any job of a sweep did not complete (cli.SweepSummary lists them on stderr);
130 when Ctrl-C stopped it.
"""

import os
import re
import signal
import sys
from pathlib import Path

from omegaconf import OmegaConf

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
        # conf/hydra/ only adds options to Hydra's own groups (hydra/launcher=slurm), whose other
        # options come from plugins (joblib, submitit_local, ...): Hydra checks those itself.
        if options and not folder.relative_to(conf_dir).as_posix().startswith("hydra/"):
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


_EXCLUDE_KEYS = "hydra.job.config.override_dirname.exclude_keys"


def exclude_fixed_overrides(args: list[str], conf_dir: Path) -> list[str]:
    """Add the keys of single-valued overrides to the exclude_keys of conf/config.yaml (see above)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [arg for arg in args if not arg.startswith("-") and "=" in arg]  # not flags, nor --cfg's job
    keys = [arg.split("=", 1)[0].lstrip("+~") for arg in overrides]
    if _EXCLUDE_KEYS in keys:
        return args  # the user chose exclude_keys: keep them
    parser, fixed = OverridesParser.create(), []
    for arg, key in zip(overrides, keys):
        if key.startswith(("hydra.", "hydra/")):
            continue  # hydra's own settings never go into dir names
        try:
            override = parser.parse_override(arg)
        except Exception:  # noqa: BLE001 - Hydra reports bad overrides itself, with context
            continue
        if not override.is_sweep_override():
            fixed.append(override.key_or_group)
    if not fixed:
        return args
    excluded = list(OmegaConf.load(conf_dir / "config.yaml").hydra.job.config.override_dirname.exclude_keys)
    excluded += [key for key in fixed if key not in excluded]
    first = args.index(overrides[0])  # next to the other overrides: Hydra's argparse wants them together
    return [*args[:first], f"{_EXCLUDE_KEYS}=[{','.join(repr(k) for k in excluded)}]", *args[first:]]


def check_setting_names(args: list[str], conf_dir: Path, groups: dict[str, list[str]]) -> None:
    """A UserError naming the nearest real setting when an override changes one the config does not have.
    Composes the config as Hydra will: a sweep with the first value of each swept override, and with each
    option of a swept group whose settings are also set (arch=gru,tfidf_lr arch.C=2: C is tfidf_lr's only).
    Any other composition error is left for Hydra to report, with its context."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import ConfigCompositionException

    if any(arg.startswith(("-cn", "-cp", "-cd", "--config")) for arg in args):
        return  # another primary config or config dir: Hydra checks it
    try:
        parsed = OverridesParser.create().parse_overrides([a for a in args if not a.startswith("-") and "=" in a])
        compositions = _compositions([o for o in parsed if not o.key_or_group.startswith("hydra")])
    except Exception:  # noqa: BLE001 - bad syntax, glob sweeps: Hydra reports or expands them itself
        return
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        for overrides in compositions:
            try:
                compose("config", overrides=overrides)
            except ConfigCompositionException as exc:
                unknown = re.match(r"Could not override '([\w.]+)'", str(exc))
                if not unknown or "not in struct" not in str(exc.__cause__):
                    return
                # the settings there are come from the group choices alone (and a second mistyped one
                # would fail this composition too)
                choices = [o for o in overrides if o.split("=", 1)[0].lstrip("+~").split("@")[0] in groups]
                cfg = compose("config", overrides=choices, return_hydra_config=True)
                raise UserError(_unknown_setting(unknown.group(1), cfg, groups)) from None


def _compositions(overrides) -> list[list[str]]:
    def one(override, value=None):
        value = next(override.sweep_string_iterator()) if value is None and override.is_sweep_override() else value
        return override.input_line if value is None else f"{override.get_key_element()}={value}"

    first = [one(o) for o in overrides]
    set_under = {o.key_or_group.split(".")[0] for o in overrides if "." in o.key_or_group}
    compositions = [first]
    for i, o in enumerate(overrides):
        if o.is_sweep_override() and o.key_or_group in set_under:
            compositions += [[*first[:i], one(o, v), *first[i + 1:]] for v in list(o.sweep_string_iterator())[1:]]
    return compositions


def _unknown_setting(key: str, cfg, groups: dict[str, list[str]]) -> str:
    """'<key> is not a setting: did you mean <the nearest>?', naming the first part of the key not there."""
    from difflib import get_close_matches

    parts, node, depth = key.split("."), cfg, 0
    while depth < len(parts) - 1 and OmegaConf.is_dict(node) and parts[depth] in node:
        node, depth = node[parts[depth]], depth + 1
    names = [str(k) for k in node if k != "hydra"] if OmegaConf.is_dict(node) else []
    if parts[:2] == ["tuner", "search_space"] and depth == 2 and parts[2] in cfg.arch:  # an arch key not searched yet
        return (f"tuner.search_space.{parts[2]} is not in the search space: to search arch.{parts[2]}, add it whole, "
                f"e.g. +tuner.search_space.{parts[2]}={{type: choice, values: [...]}}")
    near = get_close_matches(parts[depth], names, n=1)
    prefix = "".join(f"{part}." for part in parts[:depth])
    group = parts[0]
    where = f" of {group}={cfg.hydra.runtime.choices[group]}" if len(groups.get(group, [])) > 1 else ""  # not train=default
    hint = f"did you mean {prefix}{near[0]}? (--cfg job prints them all)" if near else "--cfg job prints them all"
    return f"{prefix}{parts[depth]} is not a setting{where}: {hint}"


# Hydra's modes: it runs one at a time, and says so with a traceback when given more.
_MODES = {"-r": "--run", "--run": "--run", "-m": "--multirun", "--multirun": "--multirun", "-c": "--cfg", "--cfg": "--cfg",
          "-i": "--info", "--info": "--info", "-sc": "--shell-completion", "--shell-completion": "--shell-completion"}


def check_modes(args: list[str]) -> None:
    modes = list(dict.fromkeys(_MODES[arg] for arg in args if arg in _MODES))
    if len(modes) > 1:
        raise UserError(f"{' and '.join(modes)} do not go together: give one of them")


def run() -> None:
    conf_dir = Path(config_dir())
    try:
        check_modes(sys.argv[1:])
        groups = group_options(conf_dir)
        sys.argv[1:] = quote_group_options(sys.argv[1:], groups)
        check_setting_names(sys.argv[1:], conf_dir, groups)
    except UserError as exc:
        print(f"imdb_rnn: error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.argv[1:] = exclude_fixed_overrides(sys.argv[1:], conf_dir)
    from imdb_rnn import cli

    try:
        cli.main()
    except KeyboardInterrupt:  # Ctrl-C reached a sweep's launcher (joblib's): its jobs stop with it
        print(f"imdb_rnn: error: {cli.Stopped(signal.SIGINT)}", file=sys.stderr)
        sys.exit(130)
    if cli.sweep_failures:  # listed on stderr by cli.SweepSummary
        sys.exit(1)


if __name__ == "__main__":
    run()
