"""Settings checks that run before TensorFlow loads (cli.py), so an impossible setting fails in a second
or two instead of after the import, in one line that names the fix.

Deliberately light: no TensorFlow, Keras or scikit-learn here, only the names of what they build.
"""

from omegaconf import OmegaConf

from imdb_rnn import UserError, data

CELLS = ("rnn", "lstm", "gru")  # the recurrent cells models.CELLS builds
HEADS = ("last", "mean", "max", "attention")  # the heads models.build_model puts on top
LINEAR = "tfidf_lr"  # the linear baseline's cell (linear.py)


def check_config(cfg) -> None:
    """Catch impossible settings before any work, with a message that names the fix."""
    a = cfg.arch
    cells = sorted([*CELLS, LINEAR])
    if a.cell == LINEAR:
        arch_checks = [
            (_positive_number(a.C), f"arch.C={a.C!r}: use a positive number (inverse regularization strength)"),
            (_positive_int(a.ngram_max), f"arch.ngram_max={a.ngram_max!r}: use a positive integer (2: words and word pairs)"),
            (_positive_int(a.min_df), f"arch.min_df={a.min_df!r}: use a positive integer"),
        ]
    else:
        arch_checks = [
            (a.cell in CELLS, f"arch.cell={a.cell!r}: use one of {cells}"),
            (a.head in HEADS, f"arch.head={a.head!r}: use one of {list(HEADS)}"),
            (_positive_int(a.units), f"arch.units={a.units!r}: use a positive integer"),
            (_positive_int(a.embedding_dim), f"arch.embedding_dim={a.embedding_dim!r}: use a positive integer"),
            (_positive_int(a.num_layers), f"arch.num_layers={a.num_layers!r}: use a positive integer"),
            (_fraction(a.dropout, allow_zero=True), f"arch.dropout={a.dropout!r}: use a number in [0, 1)"),
            (_fraction(a.embedding_dropout, allow_zero=True), f"arch.embedding_dropout={a.embedding_dropout!r}: use a number in [0, 1)"),
            (_fraction(a.word_dropout, allow_zero=True), f"arch.word_dropout={a.word_dropout!r}: use a number in [0, 1)"),
            (_fraction(a.recurrent_dropout, allow_zero=True), f"arch.recurrent_dropout={a.recurrent_dropout!r}: use a number in [0, 1)"),
            (_positive_number(a.learning_rate), f"arch.learning_rate={a.learning_rate!r}: use a positive number"),
            (a.ema_momentum is None or _fraction(a.ema_momentum), f"arch.ema_momentum={a.ema_momentum!r}: use a number in (0, 1), e.g. 0.99, or null"),
            (a.adversarial is None or _fraction(a.adversarial),
             f"arch.adversarial={a.adversarial!r}: use a number in (0, 1), e.g. 0.025, or null"),
        ]
    checks = [
        *arch_checks,
        (cfg.data.train_scope in ("bucket", "all"), f"data.train_scope={cfg.data.train_scope!r}: use bucket or all"),
        (_positive_int(cfg.train.epochs), f"train.epochs={cfg.train.epochs!r}: use a positive integer"),
        (_positive_int(cfg.train.batch_size), f"train.batch_size={cfg.train.batch_size!r}: use a positive integer"),
        (isinstance(cfg.train.jit_compile, bool), f"train.jit_compile={cfg.train.jit_compile!r}: use true or false"),
        (_positive_number(cfg.train.shape_cost) or cfg.train.shape_cost == 0,
         f"train.shape_cost={cfg.train.shape_cost!r}: use a number of tokens >= 0"),
        (isinstance(cfg.train.refit, bool), f"train.refit={cfg.train.refit!r}: use true or false"),
        (not cfg.train.refit_from or cfg.train.refit is True,
         f"train.refit_from={cfg.train.refit_from}: refitting from an earlier job needs train.refit=true"),
        (not cfg.train.refit_from or a.cell != LINEAR,
         f"train.refit_from is for the recurrent models; arch={a.name} refits in seconds: drop train.refit_from"),
        (cfg.train.monitor in ("val_loss", "val_accuracy"), f"train.monitor={cfg.train.monitor!r}: use val_loss or val_accuracy"),
        (cfg.train.lr_schedule in ("plateau", "cosine", "constant"), f"train.lr_schedule={cfg.train.lr_schedule!r}: use plateau, cosine or constant"),
        (_fraction(cfg.data.val_fraction), f"data.val_fraction={cfg.data.val_fraction!r}: use a number in (0, 1)"),
        (cfg.data.val_split in ("random", "movie"), f"data.val_split={cfg.data.val_split!r}: use random or movie"),
        (_positive_int(cfg.data.vocab_size) and cfg.data.vocab_size > data.FIRST_WORD_ID,
         f"data.vocab_size={cfg.data.vocab_size!r}: use an integer above {data.FIRST_WORD_ID}"),
        (cfg.data.max_len is None or _positive_int(cfg.data.max_len), f"data.max_len={cfg.data.max_len!r}: use a positive integer or null"),
        (cfg.data.window is None or _positive_int(cfg.data.window),
         f"data.window={cfg.data.window!r}: use a positive integer (tokens per window, e.g. 200) or null"),
        (cfg.data.window_average in data.WINDOW_AVERAGES,
         f"data.window_average={cfg.data.window_average!r}: use {' or '.join(data.WINDOW_AVERAGES)}"),
        (cfg.data.keep in data.KEEP_SIDES, f"data.keep={cfg.data.keep!r}: use first, last or both"),
        (cfg.tuner.kind in ("hyperband", "random", "bayesian", "none"), f"tuner.kind={cfg.tuner.kind!r}: use hyperband, random, bayesian or none"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)
    data.check_source(cfg.data)  # a mistyped data.path, before the import it would otherwise wait for
    if cfg.tuner.kind != "none":
        if "ema_momentum" in cfg.tuner.search_space and cfg.arch.get("ema_momentum") is None:  # the trials would validate raw weights
            raise UserError("tuner.search_space.ema_momentum needs weight averaging on: set arch.ema_momentum too (e.g. 0.99)")
        distributed_env(cfg.tuner)  # a bad tuner.distributed setting fails here, before any work
    ranges = cfg.test_by_length
    if not (OmegaConf.is_list(ranges) and all(_is_length_range(r) for r in ranges)):
        raise UserError(f"test_by_length={ranges!r}: use a list of [min_len, max_len] token ranges, e.g. [[0, 129], [130, 175]], or []")
    for key in ("min_len", "max_len"):
        value = cfg.bucket[key]
        if value is not None and not (isinstance(value, int) and value >= 0):
            raise UserError(f"bucket.{key}={value!r}: use a non-negative integer")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_length_range(pair) -> bool:
    return OmegaConf.is_list(pair) and len(pair) == 2 and all(_is_count(v) for v in pair) and pair[0] <= pair[1]


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _fraction(value, allow_zero=False) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (0 <= value if allow_zero else 0 < value) and value < 1


def distributed_env(cfg) -> dict[str, str]:
    """The KERASTUNER_* variables for tuner.distributed ({} when this job tunes alone); UserError if unusable."""
    dist = cfg.get("distributed") or {}
    role = dist.get("role")
    if role is None:
        return {}
    if role not in ("chief", "worker"):
        raise UserError(f"tuner.distributed.role={role!r}: use chief, worker or null")
    if not cfg.get("directory"):
        raise UserError(f"tuner.distributed.role={role} needs tuner.directory: the tuner project that the chief "
                        "and every worker share (on a cluster: a path on shared storage)")
    if not dist.get("oracle_ip") or not dist.get("oracle_port"):
        raise UserError(f"tuner.distributed.role={role} needs tuner.distributed.oracle_ip and oracle_port (the chief's)")
    tuner_id = str(dist.get("tuner_id") or ("chief" if role == "chief" else ""))
    if not tuner_id:  # the chief hands out trials by worker id: a restarted worker resumes its unfinished one
        raise UserError("tuner.distributed.role=worker needs tuner.distributed.tuner_id: an id of its own "
                        "(tuner0, tuner1, ...), the same one when the worker is restarted")
    if ("chief" in tuner_id) != (role == "chief"):  # how Keras Tuner tells the chief from the workers
        raise UserError(f"tuner.distributed.tuner_id={tuner_id}: a chief's id must contain 'chief', a worker's must not")
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": str(dist.get("oracle_ip")),
            "KERASTUNER_ORACLE_PORT": str(dist.get("oracle_port"))}
