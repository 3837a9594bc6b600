"""Settings checks that run before TensorFlow loads (cli.py), so an impossible setting fails in a second
or two instead of after the import, in one line that names the fix.

Deliberately light: no TensorFlow, Keras or scikit-learn here, only the names of what they build.
"""

from omegaconf import OmegaConf

from imdb_rnn import UserError, data

CELLS = ("rnn", "lstm", "gru")  # the recurrent cells models.CELLS builds
HEADS = ("last", "mean", "max", "attention")  # the heads models.build_model puts on top
LINEAR = "tfidf_lr"  # the linear baseline's cell (linear.py)


def _is_bool(value) -> bool:
    return isinstance(value, bool)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _positive_int(value) -> bool:
    return _is_count(value) and value > 0


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _fraction(value, allow_zero=False) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and (0 <= value if allow_zero else 0 < value) and value < 1


def _dropout(value) -> bool:
    return _fraction(value, allow_zero=True)


def _is_length_range(pair) -> bool:
    return OmegaConf.is_list(pair) and len(pair) == 2 and all(_is_count(v) for v in pair) and pair[0] <= pair[1]


# Each model setting (conf/arch) -> (is this value usable?, what to use). Checked on the arch's own values
# and on every value the tuner's search space can pick for it.
RECURRENT_RULES = {
    "cell": (lambda v: v in CELLS, f"use one of {sorted([*CELLS, LINEAR])}"),
    "head": (lambda v: v in HEADS, f"use one of {list(HEADS)}"),
    "units": (_positive_int, "use a positive integer"),
    "embedding_dim": (_positive_int, "use a positive integer"),
    "num_layers": (_positive_int, "use a positive integer"),
    "bidirectional": (_is_bool, "use true or false"),
    "dropout": (_dropout, "use a number in [0, 1)"),
    "embedding_dropout": (_dropout, "use a number in [0, 1)"),
    "word_dropout": (_dropout, "use a number in [0, 1)"),
    "recurrent_dropout": (_dropout, "use a number in [0, 1)"),
    "learning_rate": (_positive_number, "use a positive number"),
    "clipnorm": (lambda v: v is None or _positive_number(v), "use a positive number, e.g. 1.0, or null"),
    "ema_momentum": (lambda v: v is None or _fraction(v), "use a number in (0, 1), e.g. 0.99, or null"),
    "adversarial": (lambda v: v is None or _fraction(v), "use a number in (0, 1), e.g. 0.025, or null"),
    "virtual_adversarial": (lambda v: v is None or _fraction(v), "use a number in (0, 1), e.g. 0.1, or null"),
}
LINEAR_RULES = {
    "C": (_positive_number, "use a positive number (inverse regularization strength)"),
    "ngram_max": (_positive_int, "use a positive integer (2: words and word pairs)"),
    "min_df": (_positive_int, "use a positive integer"),
    "sublinear_tf": (_is_bool, "use true or false"),
    "max_iter": (_positive_int, "use a positive integer"),
}
# The search's own settings, by tuner.kind (none has none).
TUNER_RULES = {
    "objective": (lambda v: v in ("val_accuracy", "val_loss"), "use val_accuracy or val_loss (the trials are scored on validation)"),
    "max_trials": (_positive_int, "use a positive integer (Keras Tuner reads 0 as no limit)"),
    "epochs": (_positive_int, "use a positive integer (epochs per trial)"),
    "max_epochs": (_positive_int, "use a positive integer (the most epochs one trial trains)"),
    "factor": (lambda v: _positive_int(v) and v >= 2, "use an integer >= 2 (Hyperband keeps 1/factor of the trials each round)"),
    "hyperband_iterations": (_positive_int, "use a positive integer (Keras Tuner reads 0 as no limit)"),
    "patience": (_is_count, "use an integer >= 0 (epochs without improvement before a trial stops)"),
}
# pretrain=lm's language model (conf/pretrain/lm.yaml).
PRETRAIN_RULES = {
    "epochs": (_positive_int, "use a positive integer (passes over the text)"),
    "units": (_positive_int, "use a positive integer"),
    "predict_words": (_positive_int, "use a positive integer (how many of the most frequent words it predicts)"),
    "chunk": (_positive_int, "use a positive integer (tokens per training sequence)"),
    "batch_size": (_positive_int, "use a positive integer"),
    "learning_rate": (_positive_number, "use a positive number"),
    "dropout": (_dropout, "use a number in [0, 1)"),
    "seed": (_is_count, "use an integer >= 0"),
}
TUNER_KEYS = {
    "hyperband": ("objective", "max_epochs", "factor", "hyperband_iterations", "patience"),
    "random": ("objective", "max_trials", "epochs", "patience"),
    "bayesian": ("objective", "max_trials", "epochs", "patience"),
    "none": (),
}


def _check_rules(group: str, values, rules: dict) -> None:
    """The first of a group's settings that breaks its rule, as `group.key=value: what to use`."""
    for key, (ok, rule) in rules.items():
        if not ok(values[key]):
            raise UserError(f"{group}.{key}={values[key]!r}: {rule}")


def check_config(cfg) -> None:
    """Catch impossible settings before any work, with a message that names the fix."""
    a = cfg.arch
    _check_rules("arch", a, LINEAR_RULES if a.cell == LINEAR else RECURRENT_RULES)
    t, r = cfg.train, cfg.train.reduce_lr
    checks = [
        (_is_count(cfg.seed), f"seed={cfg.seed!r}: use an integer >= 0"),
        (_is_count(cfg.threads.intra_op), f"threads.intra_op={cfg.threads.intra_op!r}: use an integer >= 0 (0: TensorFlow decides)"),
        (_is_count(cfg.threads.inter_op), f"threads.inter_op={cfg.threads.inter_op!r}: use an integer >= 0 (0: TensorFlow decides)"),
        (_is_bool(cfg.deterministic), f"deterministic={cfg.deterministic!r}: use true or false"),
        (cfg.keras_verbose in (0, 1, 2) and not _is_bool(cfg.keras_verbose),
         f"keras_verbose={cfg.keras_verbose!r}: use 0 (silent), 1 (progress bar) or 2 (one line per epoch)"),
        (cfg.data.train_scope in ("bucket", "all"), f"data.train_scope={cfg.data.train_scope!r}: use bucket or all"),
        (_positive_int(t.epochs), f"train.epochs={t.epochs!r}: use a positive integer"),
        (_positive_int(t.batch_size), f"train.batch_size={t.batch_size!r}: use a positive integer"),
        (_is_count(t.patience), f"train.patience={t.patience!r}: use an integer >= 0 (epochs without improvement before stopping)"),
        (_fraction(r.factor), f"train.reduce_lr.factor={r.factor!r}: use a number in (0, 1), e.g. 0.5"),
        (_is_count(r.patience), f"train.reduce_lr.patience={r.patience!r}: use an integer >= 0"),
        (_positive_number(r.min_lr) or r.min_lr == 0, f"train.reduce_lr.min_lr={r.min_lr!r}: use a number >= 0"),
        (_is_bool(t.jit_compile), f"train.jit_compile={t.jit_compile!r}: use true or false"),
        (_positive_number(t.shape_cost) or t.shape_cost == 0, f"train.shape_cost={t.shape_cost!r}: use a number of tokens >= 0"),
        (_is_bool(t.refit), f"train.refit={t.refit!r}: use true or false"),
        (not t.refit_from or t.refit is True,
         f"train.refit_from={t.refit_from}: refitting from an earlier job needs train.refit=true"),
        (not t.refit_from or a.cell != LINEAR,
         f"train.refit_from is for the recurrent models; arch={a.name} refits in seconds: drop train.refit_from"),
        (t.monitor in ("val_loss", "val_accuracy"), f"train.monitor={t.monitor!r}: use val_loss or val_accuracy"),
        (t.lr_schedule in ("plateau", "cosine", "constant"), f"train.lr_schedule={t.lr_schedule!r}: use plateau, cosine or constant"),
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
        (cfg.tuner.kind in TUNER_KEYS, f"tuner.kind={cfg.tuner.kind!r}: use hyperband, random, bayesian or none"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)
    data.check_source(cfg.data)  # a mistyped data.path, before the import it would otherwise wait for
    if cfg.tuner.kind != "none":
        if a.cell != LINEAR:  # the baseline is fitted as configured, never searched
            _check_search(cfg.tuner)
        if "ema_momentum" in cfg.tuner.search_space and cfg.arch.get("ema_momentum") is None:  # the trials would validate raw weights
            raise UserError("tuner.search_space.ema_momentum needs weight averaging on: set arch.ema_momentum too (e.g. 0.99)")
        distributed_env(cfg.tuner)  # a bad tuner.distributed setting fails here, before any work
    ranges = cfg.test_by_length
    if not (OmegaConf.is_list(ranges) and all(_is_length_range(r) for r in ranges)):
        raise UserError(f"test_by_length={ranges!r}: use a list of [min_len, max_len] token ranges, e.g. [[0, 129], [130, 175]], or []")
    check_bucket(cfg.bucket)
    check_pretrain(cfg)


def check_pretrain(cfg) -> None:
    p = cfg.pretrain
    if p.name not in ("none", "lm"):
        raise UserError(f"pretrain.name={p.name!r}: use pretrain=none or pretrain=lm")
    if p.name == "none" or cfg.arch.cell == LINEAR:  # the baseline has no word vectors to start (job.py logs it)
        return
    if "epochs" not in p:
        raise UserError("pretrain.name=lm leaves out the language model's settings: choose it as pretrain=lm")
    _check_rules("pretrain", p, PRETRAIN_RULES)
    if cfg.data.train_scope == "all":
        raise UserError("pretrain=lm reads the training reviews outside the bucket, and with data.train_scope=all the job "
                        "learns from all of them: use pretrain=none (or data.train_scope=bucket)")
    if cfg.tuner.kind != "none" and "embedding_dim" in cfg.tuner.search_space:
        raise UserError("pretrain=lm learns word vectors of arch.embedding_dim's size, which the tuner's search space varies: "
                        "add ~tuner.search_space.embedding_dim, or use tuner=none")


def check_bucket(cfg) -> None:
    """UserError, naming the fix, for a `bucket` config no data can satisfy (buckets.resolve runs it too)."""
    if cfg.scheme == "fixed":
        for key in ("min_len", "max_len"):
            if cfg[key] is not None and not _is_count(cfg[key]):
                raise UserError(f"bucket.{key}={cfg[key]!r}: use a non-negative integer")
        if cfg.max_len is not None and (cfg.min_len or 0) > cfg.max_len:
            raise UserError(f"bucket.min_len={cfg.min_len} > bucket.max_len={cfg.max_len}: give a range with min_len <= max_len")
    elif cfg.scheme == "quantile":
        if not _positive_int(cfg.n_buckets):
            raise UserError(f"bucket.n_buckets={cfg.n_buckets!r}: use a positive integer")
        if not (_is_count(cfg.index) and cfg.index < cfg.n_buckets):
            raise UserError(f"bucket.index={cfg.index!r} is out of range for bucket.n_buckets={cfg.n_buckets}: "
                            f"use 0..{cfg.n_buckets - 1}")
    else:
        raise UserError(f"unknown bucket.scheme={cfg.scheme!r}: use fixed or quantile")


def _check_search(tuner) -> None:
    """The search's settings, and every value its search space can pick for a model setting."""
    for key in TUNER_KEYS[tuner.kind]:
        ok, rule = TUNER_RULES[key]
        if not ok(tuner.get(key)):
            raise UserError(f"tuner.{key}={tuner.get(key)!r}: {rule}")
    for key, spec in tuner.search_space.items():
        if key in RECURRENT_RULES:
            ok, rule = RECURRENT_RULES[key]
            for value in _values_it_can_pick(spec):
                if not ok(value):
                    raise UserError(f"tuner.search_space.{key} can pick {value!r}: {rule}")


def _values_it_can_pick(spec) -> list:
    """A search-space entry's choices, or the ends of its range (a malformed entry: none, tuning.py names it)."""
    if not OmegaConf.is_dict(spec):
        return []
    kind = spec.get("type")
    if kind == "choice" and OmegaConf.is_list(spec.get("values")):
        return list(spec["values"])
    if kind in ("int", "float"):
        return [v for v in (spec.get("min_value"), spec.get("max_value")) if v is not None]
    if kind == "boolean":
        return [True, False]
    return []


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
