"""The Hydra entry point: compose the config, run one job in its own output dir, report failures.

`python -m imdb_rnn` goes through __main__.py first (which makes names like 130_175 reach Hydra as
strings), then here.
"""

import logging
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from imdb_rnn import UserError, artifacts

log = logging.getLogger("imdb_rnn")


def config_dir() -> str:
    """conf/ packaged inside an installed wheel, else the repository's conf/ (editable install, checkout)."""
    packaged = Path(__file__).resolve().parent / "conf"
    return str(packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg) -> dict | None:
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        from imdb_rnn.job import run_job  # TensorFlow loads here, not for --help or --cfg

        return run_job(cfg, out_dir)
    except (Exception, KeyboardInterrupt) as exc:
        reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, UserError):
            log.error("job failed:\n%s", traceback.format_exc())
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        artifacts.write_json(out_dir / artifacts.METRICS, {"status": status, "error": reason, "job_dir": str(out_dir)})
        if hydra_cfg.mode == RunMode.MULTIRUN and not isinstance(exc, KeyboardInterrupt):
            log.error("job %s failed: %s", out_dir, reason)
            return None  # the sweep goes on
        print(f"imdb_rnn: error: {reason}", file=sys.stderr)
        sys.exit(130 if isinstance(exc, KeyboardInterrupt) else 1)
