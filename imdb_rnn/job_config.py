"""The settings a finished job ran with, as today's imdb_rnn reads them.

A job's config.yaml holds every setting imdb_rnn had when the job ran. A setting added since is absent
there, and the job did what that setting's default does today: a new setting defaults to the old
behaviour. So a setting a job lacks is read as its default today, for the job's arch (conf/, composed
by Hydra). The one exception, data.window_average, came after its default changed: a windowed job
without it is read as its tokenizer.json says. Three places compare a job with others this way: compare
(which jobs are one recipe), a resumed sweep (whether a complete job ran with other settings, cli.py)
and train.refit_from (whether the source job's choice is this job's, job.py).
"""

import functools
import json
from contextlib import nullcontext
from pathlib import Path

from omegaconf import OmegaConf


def flatten(config: dict, prefix: str = "") -> dict:
    """A nested config as {dotted key: value}; an empty dict stays a value."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read(job_dir: Path) -> dict:
    """A job's config.yaml, flattened, with data.window_average as its tokenizer.json says when the job
    is windowed and predates the setting. Raises (OSError, a parse error) when there is no readable one."""
    job_dir = Path(job_dir)
    config = OmegaConf.to_container(OmegaConf.load(job_dir / "config.yaml"))
    if not isinstance(config, dict):
        raise TypeError(f"{job_dir}/config.yaml is not a config")
    flat = flatten(config)
    if flat.get("data.window") and "data.window_average" not in flat and (average := window_average(job_dir)):
        flat["data.window_average"] = average
    return flat


def window_average(job: Path) -> str | None:
    """How a windowed job made before data.window_average combined a review's windows: as its
    tokenizer.json says, and without the key there (the first windowed jobs) the mean of their
    probabilities, as the predict tool reads them; None (today's default) without a readable tokenizer.json."""
    try:
        spec = json.loads((job / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (spec.get("window_average") or "probability") if isinstance(spec, dict) else None


def fill_defaults(flat: dict, keys, arch: str) -> dict:
    """`flat` with those of `keys` it lacks set to their default today for `arch`; a key that has no
    default either (another arch's setting, another version's) stays absent."""
    missing = set(keys) - set(flat)
    defaults = default_settings(arch) if missing else {}  # composing conf/ takes a moment: only when needed
    return {**flat, **{k: defaults[k] for k in missing if k in defaults}}


def changed(job_dir: Path, cfg, ignoring=()) -> list[str]:
    """The settings (dotted keys) of a finished job that differ from `cfg`'s (this run's, resolved), less
    those in `ignoring` and all under them. A setting the job lacks is read as its default today."""
    new = flatten(OmegaConf.to_container(cfg, resolve=True))
    old = fill_defaults(read(job_dir), new, str(cfg.arch.name))
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and not under(k, ignoring))


def under(key: str, prefixes) -> bool:
    """Whether a dotted key is one of `prefixes` or inside one of them (data.path is under data)."""
    return any(key == p or key.startswith(p + ".") for p in prefixes)


@functools.cache
def default_settings(arch: str) -> dict:
    """The settings `python -m imdb_rnn arch=<arch>` gets today, flattened; {} for an arch conf/ does not
    have. Inside a running job (Hydra already set up) its own config search path is used."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from imdb_rnn.cli import config_dir

    try:
        hydra_ready = GlobalHydra.instance().is_initialized()
        with nullcontext() if hydra_ready else initialize_config_dir(version_base="1.3", config_dir=config_dir(), job_name="job_config"):
            return flatten(OmegaConf.to_container(compose("config", overrides=[f"arch={arch}"]), resolve=True))
    except Exception:  # noqa: BLE001 - an arch of another version, or a conf/ that does not compose: no defaults
        return {}
