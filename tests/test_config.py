"""Config composition: every option of every group composes, and names like 130_175 stay strings."""


import pytest
from hydra import compose, initialize_config_dir
from hydra.types import RunMode
from omegaconf import OmegaConf

import imdb_rnn  # noqa: F401  (registers the bucket_name resolver)
from imdb_rnn import UserError
from imdb_rnn.__main__ import check_modes, check_setting_names, group_options, quote_group_options
from imdb_rnn.checks import check_config

from conftest import CONF_DIR

GROUPS = group_options(CONF_DIR)
CLASSIC_BUCKETS = ["0_129", "130_175", "176_284", "285_597", "598_2494"]


def compose_cfg(*overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=quote_group_options(list(overrides), GROUPS))


def compose_hydra_cfg(*overrides):
    """Hydra's own config (mode, sweeper, ...) as the command would compose it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True).hydra


def test_public_group_options_exist():
    assert GROUPS["arch"] == ["gru", "lstm", "rnn", "tfidf_lr"]
    assert set(CLASSIC_BUCKETS + ["all", "quantile"]) <= set(GROUPS["bucket"])
    assert set(GROUPS["tuner"]) == {"hyperband", "random", "bayesian", "none"}
    assert {"imdb", "sample"} <= set(GROUPS["data"])
    assert {"classic", "quick"} <= set(GROUPS["experiment"])
    assert GROUPS["pretrain"] == ["lm", "none"]


def test_defaults_are_lstm_130_175_hyperband_on_full_imdb():
    cfg = compose_cfg()
    assert (cfg.arch.cell, cfg.bucket.name, cfg.tuner.kind, cfg.data.source) == ("lstm", "130_175", "hyperband", "archive")
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.data.val_fraction) == (50, 32, 0.2)
    assert cfg.pretrain.name == "none"
    # the classic search space
    space = cfg.tuner.search_space
    assert list(space.embedding_dim["values"]) == [32, 64, 128, 256]
    assert (space.units.min_value, space.units.max_value, space.units.step) == (16, 128, 16)
    assert (space.dropout.min_value, space.dropout.max_value) == (0.1, 0.5)
    assert (cfg.tuner.max_epochs, cfg.tuner.factor, cfg.tuner.hyperband_iterations, cfg.tuner.objective) == (15, 3, 1, "val_accuracy")


@pytest.mark.parametrize("group", ["arch", "bucket", "tuner", "tuner/search_space", "data", "train", "experiment", "sweep", "pretrain"])
def test_every_option_composes_and_resolves(group):
    for option in GROUPS[group]:
        # pretrain=lm learns vectors of one size: with a search over embedding_dim (the default tuner's) it is an error
        cfg = compose_cfg(f"{group}={option}", *(["tuner=none"] if group == "pretrain" else []))
        OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
        check_config(cfg)  # and every option we ship passes the settings checks
        if group == "arch":
            assert cfg.arch.name == option and cfg.arch.cell == option


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["seed=abc"], "seed='abc': use an integer >= 0"),
        (["threads.intra_op=-1"], "threads.intra_op=-1: use an integer >= 0"),
        (["deterministic=maybe"], "deterministic='maybe': use true or false"),
        (["keras_verbose=7"], "keras_verbose=7: use 0 (silent), 1 (progress bar) or 2"),
        (["train.patience=-1"], "train.patience=-1: use an integer >= 0"),
        (["train.reduce_lr.factor=2"], "train.reduce_lr.factor=2: use a number in (0, 1)"),
        (["train.reduce_lr.min_lr=-1"], "train.reduce_lr.min_lr=-1: use a number >= 0"),
        (["arch.clipnorm=0"], "arch.clipnorm=0: use a positive number"),
        (["arch.virtual_adversarial=1.5"], "arch.virtual_adversarial=1.5: use a number in (0, 1)"),
        (["arch.bidirectional=maybe"], "arch.bidirectional='maybe': use true or false"),
        (["arch=tfidf_lr", "arch.max_iter=0"], "arch.max_iter=0: use a positive integer"),
        (["tuner=random", "tuner.max_trials=0"], "tuner.max_trials=0: use a positive integer"),
        (["tuner=bayesian", "tuner.epochs=0"], "tuner.epochs=0: use a positive integer"),
        (["tuner=random", "tuner.objective=val_auc"], "tuner.objective='val_auc': use val_accuracy or val_loss"),
        (["tuner.max_epochs=0"], "tuner.max_epochs=0: use a positive integer"),
        (["tuner.factor=1"], "tuner.factor=1: use an integer >= 2"),
        (["tuner.hyperband_iterations=0"], "tuner.hyperband_iterations=0: use a positive integer"),
        (["tuner.patience=-2"], "tuner.patience=-2: use an integer >= 0"),
        (["tuner.search_space.dropout.max_value=1.5"], "tuner.search_space.dropout can pick 1.5: use a number in [0, 1)"),
        (["tuner.search_space.units.min_value=0"], "tuner.search_space.units can pick 0: use a positive integer"),
        (["tuner/search_space=extended", "tuner.search_space.head.values=[max,sum]"],
         "tuner.search_space.head can pick 'sum': use one of"),
        (["bucket=quantile", "bucket.n_buckets=0"], "bucket.n_buckets=0: use a positive integer"),
        (["bucket=quantile", "bucket.index=5"], "bucket.index=5 is out of range for bucket.n_buckets=5: use 0..4"),
        (["bucket.min_len=300", "bucket.max_len=200"], "bucket.min_len=300 > bucket.max_len=200"),
        (["experiment=quick", "data.path=/data/aclImdb_v1.tar.gz"],
         "data.path=/data/aclImdb_v1.tar.gz is not read with data=sample (the bundled sample, as experiment=quick has it)"),
    ],
)
def test_impossible_settings_are_caught_before_any_work(overrides, message):
    """Settings that Keras, TensorFlow or Keras Tuner would take badly (a search with no end, a crash in
    TensorFlow's thread setup, a traceback mid-job), each caught up front in one line that names the fix."""
    with pytest.raises(UserError) as caught:
        check_config(compose_cfg(*overrides))
    assert str(caught.value).startswith(message)


def test_the_baseline_ignores_the_search_settings():
    """arch=tfidf_lr is never searched, so a sweep over it and a GRU fails only the GRU's job on them."""
    check_config(compose_cfg("arch=tfidf_lr", "tuner.max_epochs=0"))
    with pytest.raises(UserError, match="tuner.max_epochs=0"):
        check_config(compose_cfg("arch=gru", "tuner.max_epochs=0"))


@pytest.mark.parametrize("name", CLASSIC_BUCKETS)
def test_classic_bucket_names_reach_hydra_as_strings(name):
    cfg = compose_cfg(f"bucket={name}")
    low, high = map(int, name.split("_"))
    assert (cfg.bucket.name, cfg.bucket.min_len, cfg.bucket.max_len) == (name, low, high)


def test_quoting_covers_sweeps_and_leaves_other_overrides_alone():
    args = ["-m", "bucket=0_129,130_175", "arch=rnn,gru", "train.epochs=3", "+bucket@x=all", "seed=1_000"]
    assert quote_group_options(args, GROUPS) == [
        "-m", "bucket='0_129','130_175'", "arch=rnn,gru", "train.epochs=3", "+bucket@x=all", "seed=1_000",
    ]


def test_unknown_group_option_is_one_clear_error():
    with pytest.raises(UserError, match=r"unknown bucket '13_175': choose from .*130_175"):
        quote_group_options(["bucket=13_175"], GROUPS)
    with pytest.raises(UserError, match=r"unknown arch 'transformer'"):
        quote_group_options(["arch=lstm,transformer"], GROUPS)


@pytest.mark.parametrize(
    "args, message",
    [
        (["train.epoch=3"], "train.epoch is not a setting: did you mean train.epochs?"),
        (["train.epoch=3", "arch.unitz=4"], "train.epoch is not a setting: did you mean train.epochs?"),  # the first
        (["-m", "arch=gru,lstm", "arch.unitz=3,4"], "arch.unitz is not a setting of arch=gru: did you mean arch.units?"),
        (["arch=gru", "arch.C=2"], "arch.C is not a setting of arch=gru: --cfg job prints them all"),
        # every option of a swept group whose settings are set, not just the first
        (["-m", "arch=tfidf_lr,gru", "arch.C=2"], "arch.C is not a setting of arch=gru"),
        (["tuner/search_space=extended", "tuner.search_space.headd.values=[max]"],
         "tuner.search_space.headd is not a setting of tuner=hyperband: did you mean tuner.search_space.head?"),
        (["seeed=3"], "seeed is not a setting: did you mean seed?"),
        # a key the search space may hold but does not yet: Hydra's "+" is the fix there
        (["tuner.search_space.word_dropout={type: choice, values: [0.0, 0.2]}"],
         ("tuner.search_space.word_dropout is not in the search space: to search arch.word_dropout, add it whole, "
          "e.g. +tuner.search_space.word_dropout=")),
        (["tuner.search_space.unit.max_value=64"], "tuner.search_space.unit is not a setting of tuner=hyperband: did you mean tuner.search_space.units?"),
    ],
)
def test_a_mistyped_setting_is_one_line_naming_the_nearest(args, message):
    """Hydra's own message would suggest +train.epoch=3: a new setting that nothing reads."""
    with pytest.raises(UserError) as caught:
        check_setting_names(quote_group_options(args, GROUPS), CONF_DIR, GROUPS)
    assert str(caught.value).startswith(message)


def test_real_settings_pass_the_name_check():
    for args in (["arch=tfidf_lr", "arch.C=2"], ["-m", "arch=gru,lstm", "bucket=0_129,130_175", "arch.units=32,64",
                  "seed=range(3)", "hydra.sweep.dir=/x", "hydra/launcher=joblib"], ["experiment=quick", "+extra.key=1"],
                 ["--cfg", "job", "train.epochs=2"], ["train.epochs=[1,"]):  # the last: bad syntax, for Hydra to report
        check_setting_names(quote_group_options(args, GROUPS), CONF_DIR, GROUPS)


def test_one_hydra_mode_at_a_time():
    """Hydra runs, sweeps, prints the config or its info, one at a time; given two, a traceback."""
    with pytest.raises(UserError, match="^--multirun and --cfg do not go together: give one of them$"):
        check_modes(["-m", "seed=1,2", "--cfg", "job"])
    with pytest.raises(UserError, match="^--info and --cfg do not go together"):
        check_modes(["--info", "-c", "job"])
    check_modes(["-m", "--multirun", "seed=1,2"])  # one mode, spelled twice
    check_modes(["--cfg", "job", "arch=gru"])


def test_custom_range_renames_the_bucket():
    cfg = compose_cfg("bucket.min_len=100", "bucket.max_len=200")
    assert cfg.bucket.name == "100_200"
    assert compose_cfg("bucket=all").bucket.name == "all"
    assert compose_cfg("bucket=all", "bucket.min_len=300").bucket.name == "300_max"
    assert compose_cfg("bucket=quantile", "bucket.index=2").bucket.name == "q2of5"


def test_experiments_set_what_they_promise():
    classic = compose_cfg("experiment=classic")
    assert (classic.data.vocab_size, classic.tuner.kind, classic.train.batch_size, classic.train.epochs) == (5000, "hyperband", 32, 50)
    quick = compose_cfg("experiment=quick")
    assert (quick.data.source, quick.bucket.name, quick.tuner.kind) == ("sample", "all", "random")
    # an explicit override still wins over the experiment
    assert compose_cfg("experiment=quick", "arch=gru").arch.cell == "gru"
    for arch in ("rnn", "lstm", "gru"):  # the best recipes: the generalist with the arch set
        best = compose_cfg(f"experiment=best_{arch}")
        assert (best.arch.cell, best.bucket.name, best.tuner.kind, best.arch.bidirectional) == (arch, "all", "none", True)
        assert best.arch.embedding_dropout == 0.4 and compose_cfg(f"arch={arch}").arch.embedding_dropout == 0
    best_gru = compose_cfg("experiment=best_gru")  # the GRU's recipe stacks two wider layers and averages weights
    assert (best_gru.arch.num_layers, best_gru.arch.ema_momentum, best_gru.arch.units) == (2, 0.99, 128)
    assert compose_cfg("experiment=best_gru", "arch.units=64").arch.units == 64  # the recipe before, as the README spells it
    assert compose_cfg("experiment=best_lstm").arch.ema_momentum is None and compose_cfg("arch=gru").arch.ema_momentum is None
    # on one bucket: the generalist's GRU without embedding dropout, trained on that bucket's reviews alone
    one_bucket = compose_cfg("experiment=best_gru_bucket", "bucket=0_129")
    assert (one_bucket.bucket.name, one_bucket.data.train_scope, one_bucket.arch.head) == ("0_129", "bucket", "max")
    assert (one_bucket.arch.cell, one_bucket.arch.embedding_dropout, one_bucket.arch.num_layers) == ("gru", 0, 1)
    assert compose_cfg("experiment=best_gru_bucket").bucket.name == "130_175"  # never bucket all


# The sweeps behind the README's best bucket-only figures: their archs and, on top of
# experiment=best_gru_bucket, the settings the README's commands give for that bucket.
BEST_BUCKET_SWEEPS = {
    "best_0_129": ("gru,lstm,rnn", ["arch.ema_momentum=0.99", "arch.word_dropout=0.2", "arch.adversarial=0.025",
                                    "arch.virtual_adversarial=0.1", "data.vocab_size=10000"]),
    "best_130_175": ("gru,lstm,rnn", ["arch.ema_momentum=0.99", "arch.word_dropout=0.2", "arch.adversarial=0.025"]),
    "best_176_284": ("gru,lstm,rnn", ["arch.ema_momentum=0.99", "arch.word_dropout=0.2", "data.vocab_size=10000"]),
    "best_285_597": ("gru,lstm", ["arch.ema_momentum=0.99"]),
}


@pytest.mark.parametrize("sweep", sorted(BEST_BUCKET_SWEEPS))
def test_a_best_bucket_sweep_runs_the_recipe_its_figure_came_from(sweep):
    archs, recipe = BEST_BUCKET_SWEEPS[sweep]
    bucket = sweep.removeprefix("best_")
    hydra_cfg = compose_hydra_cfg(f"sweep={sweep}")
    assert hydra_cfg.mode == RunMode.MULTIRUN
    assert dict(hydra_cfg.sweeper.params) == {"arch": archs, "bucket": f"'{bucket}'", "seed": "42,1,2,3,4"}
    for arch in archs.split(","):  # each job the sweep runs is the README's command for that arch
        job = compose_cfg(f"sweep={sweep}", f"arch={arch}", f"bucket={bucket}", "seed=3")
        spelled_out = compose_cfg("experiment=best_gru_bucket", *recipe, f"arch={arch}", f"bucket={bucket}", "seed=3")
        assert job == spelled_out
        assert job.arch.cell == arch and job.bucket.name == bucket and job.data.train_scope == "bucket"


def test_the_pretrained_0_129_sweep_runs_the_readme_command():
    hydra_cfg = compose_hydra_cfg("sweep=best_0_129_pretrained")
    assert hydra_cfg.mode == RunMode.MULTIRUN
    assert dict(hydra_cfg.sweeper.params) == {"arch": "gru", "bucket": "'0_129'", "seed": "42,1,2,3,4"}
    job = compose_cfg("sweep=best_0_129_pretrained", "arch=gru", "bucket=0_129", "seed=3")
    spelled_out = compose_cfg("experiment=best_gru_bucket", "arch.ema_momentum=0.99", "arch.word_dropout=0.2", "data.vocab_size=10000",
                              "bucket=0_129", "pretrain=lm", "arch.adversarial=0.025", "arch.head=attention", "seed=3")
    assert job == spelled_out and job.pretrain.name == "lm"


# 598_2494's cells differ in how a review is read: one experiment config each, and the README's command for it.
BEST_598_2494_CELLS = {
    "best_gru_bucket": [],
    "best_gru_bucket_window_200": ["data.max_len=null", "data.window=200"],
    "best_gru_bucket_window_400": ["data.max_len=null", "data.window=400"],
    "best_lstm_bucket_window_200": ["data.max_len=null", "data.window=200", "arch=lstm"],
}


def test_the_best_598_2494_sweep_runs_the_four_cells_its_figure_came_from():
    hydra_cfg = compose_hydra_cfg("sweep=best_598_2494")
    assert dict(hydra_cfg.sweeper.params) == {"experiment": ",".join(BEST_598_2494_CELLS), "bucket": "'598_2494'",
                                              "seed": "42,1,2,3,4,5,6,7,8,9"}
    readings = set()
    for experiment, recipe in BEST_598_2494_CELLS.items():
        job = compose_cfg("sweep=best_598_2494", f"experiment={experiment}", "bucket=598_2494", "seed=3")
        assert job == compose_cfg("experiment=best_gru_bucket", *recipe, "bucket=598_2494", "seed=3")
        readings.add((job.arch.cell, job.data.max_len, job.data.window))
    assert readings == {("gru", 800, None), ("gru", None, 200), ("gru", None, 400), ("lstm", None, 200)}


def test_data_path_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("IMDB_RNN_DATA", "/somewhere/aclImdb_v1.tar.gz")
    assert compose_cfg().data.path == "/somewhere/aclImdb_v1.tar.gz"
    monkeypatch.delenv("IMDB_RNN_DATA")
    assert compose_cfg().data.path is None


def test_help_lists_groups(run_cli):
    result = run_cli("--help")
    assert result.returncode == 0
    for group in ("arch:", "bucket:", "tuner:", "data:", "experiment:"):
        assert group in result.stdout
    assert "130_175" in result.stdout and "hyperband" in result.stdout


def test_cfg_job_prints_the_composed_config_for_the_typed_command(run_cli):
    result = run_cli("arch=gru", "bucket=130_175", "--cfg", "job")
    assert result.returncode == 0, result.stderr
    cfg = OmegaConf.create(result.stdout)
    assert cfg.arch.cell == "gru" and (cfg.bucket.min_len, cfg.bucket.max_len) == (130, 175)
