"""A clean terminal: TensorFlow's import-time log lines below TF_CPP_MIN_LOG_LEVEL kept off it, and
commands that end without a traceback when their reader goes away (`| head`) or on Ctrl-C.

TensorFlow 2.21 prints absl/glog lines (oneDNN, CUDA probing) to stderr while it loads, before it reads
TF_CPP_MIN_LOG_LEVEL, so the variable alone does not silence them. They would bury a one-line error.
"""

import os
import re
import sys
import tempfile

_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_GLOG_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\] ")
_GLOG_LEVEL = {"I": 0, "W": 1, "E": 2, "F": 3}


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its load-time log lines below TF_CPP_MIN_LOG_LEVEL dropped; all else is kept."""
    if "tensorflow" in sys.modules:
        return
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
        sys.stderr.flush()
        saved = os.dup(2)
    except (ValueError, OSError, AttributeError):
        level, saved = 0, None
    if level < 1 or saved is None:
        import tensorflow  # noqa: F401

        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace").replace(_ABSL_PREAMBLE, "")
            kept = [
                line for line in text.splitlines(keepends=True)
                if line.strip() and not ((m := _GLOG_LINE.match(line)) and _GLOG_LEVEL[m.group(1)] < level)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def run_command(main) -> None:
    """Exit with main()'s status; a closed pipe is a normal end, Ctrl-C exits 130."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")  # never fail on a terminal that cannot show a character
    try:
        code = main()
        sys.stdout.flush()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `... | head`: the reader went away; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
