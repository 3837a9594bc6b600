"""Keras Tuner's distributed search on one machine: a chief and two workers share one search.

    python scripts/distributed_tuning_demo.py [--out DIR] [--workers 2] [overrides ...]

Starts three `python -m imdb_rnn` processes on localhost, with a free port and one shared tuner
directory, on the bundled sample with tiny settings (about a minute on 2 cores):

    chief    tuner.distributed.role=chief   serves the oracle; when the workers are done, retrains the
                                            best trial and evaluates it: its job dir is the result
    tuner0   tuner.distributed.role=worker  runs trials
    tuner1   tuner.distributed.role=worker  runs trials

then prints which worker ran which trial. Extra arguments are passed to every process as Hydra
overrides (arch=gru, tuner.max_trials=6, ...). On a cluster, the same commands run on different nodes
(README "Scaling out"): the chief with oracle_ip=0.0.0.0, the workers with oracle_ip=<chief's host>,
and tuner.directory on storage that every node sees.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TINY = [
    "experiment=quick",  # the bundled sample, bucket all, random search over a tiny space
    "tuner=random", "tuner.max_trials=4", "tuner.epochs=1",
    "arch.units=8", "arch.embedding_dim=8", "train.epochs=1",
    "threads.intra_op=1", "threads.inter_op=1",  # three processes share the machine
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="where the job dirs and the shared tuner dir go (default: a new temp dir)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900, help="seconds before every process is stopped")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every process")
    args = parser.parse_args(argv)
    out = (args.out or Path(tempfile.mkdtemp(prefix="imdb_rnn_distributed_"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    common = [*TINY, *args.overrides, f"tuner.directory={out / 'shared_tuner'}",
              "tuner.distributed.oracle_ip=127.0.0.1", f"tuner.distributed.oracle_port={port}"]
    roles = {"chief": ["tuner.distributed.role=chief"]}
    roles |= {f"tuner{i}": ["tuner.distributed.role=worker", f"tuner.distributed.tuner_id=tuner{i}"]
              for i in range(args.workers)}
    print(f"chief and {args.workers} workers on 127.0.0.1:{port}; shared tuner dir {out / 'shared_tuner'}")

    procs = {}
    for name, role in roles.items():
        command = [sys.executable, "-m", "imdb_rnn", *common, *role, f"hydra.run.dir={out / name}"]
        log = (out / f"{name}.log").open("w")
        procs[name] = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        print(f"  {name:<7} pid {procs[name].pid}, log {out / f'{name}.log'}")
    deadline = time.monotonic() + args.timeout
    try:
        while any(p.poll() is None for p in procs.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        for name, proc in procs.items():
            if proc.poll() is None:
                print(f"  {name} still running after {args.timeout:.0f} s: stopping it", file=sys.stderr)
                os.killpg(proc.pid, 9)
                proc.wait()

    failed = [name for name, proc in procs.items() if proc.returncode != 0]
    for name in failed:
        print(f"{name} exited with {procs[name].returncode}; end of its log:", file=sys.stderr)
        print((out / f"{name}.log").read_text()[-2000:], file=sys.stderr)
    if failed:
        return 1

    chief = json.loads((out / "chief" / "metrics.json").read_text())
    print(f"\nthe search: {chief['n_trials']} trials; best {json.dumps(chief['best_hyperparameters'])}")
    print(f"chief retrained it: test accuracy {chief['test_accuracy']:.4f} (job dir {out / 'chief'})")
    for name in roles:
        if name != "chief":
            worker = json.loads((out / name / "metrics.json").read_text())
            print(f"  {name} ran {worker['n_trials']} trials: {', '.join(worker['trials']) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
