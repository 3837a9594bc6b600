"""The YAML search space becomes a Keras Tuner HyperModel; mistakes in it are one-line user errors."""

import json
import os

import keras_tuner as kt
import keras_tuner.src.utils as kt_utils
import pytest
from omegaconf import OmegaConf

from imdb_rnn import UserError
from imdb_rnn.tuning import SearchSpaceModel

from test_config import compose_cfg


def arch_and_space(*overrides):
    cfg = compose_cfg(*overrides)
    return OmegaConf.to_container(cfg.arch), OmegaConf.to_container(cfg.tuner.search_space)


@pytest.mark.parametrize("space", ["classic", "extended"])
def test_every_search_space_builds_a_model(space):
    arch, search_space = arch_and_space("arch=gru", f"tuner/search_space={space}")
    hp = kt.HyperParameters()
    model = SearchSpaceModel(arch, search_space, vocab_size=100).build(hp)
    assert set(hp.values) == set(search_space)
    assert model.layers[1].output_dim == hp.values["embedding_dim"]  # the tuned value reached the model
    assert model.optimizer is not None  # compiled


def test_search_space_keys_must_be_model_settings():
    arch, _ = arch_and_space()
    with pytest.raises(UserError, match="not model settings"):
        SearchSpaceModel(arch, {"unit": {"type": "int", "min_value": 1, "max_value": 2}}, 100)


def test_search_space_types_are_checked():
    arch, _ = arch_and_space()
    with pytest.raises(UserError, match="use choice, int, float or boolean"):
        SearchSpaceModel(arch, {"units": {"type": "range", "values": [1]}}, 100).build(kt.HyperParameters())
    with pytest.raises(UserError, match="not a valid int range"):
        SearchSpaceModel(arch, {"units": {"type": "int", "min": 1}}, 100).build(kt.HyperParameters())


def test_tuner_state_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A job killed while Keras Tuner saves its state keeps the previous state, so the search can resume."""
    state = tmp_path / "oracle.json"
    kt_utils.save_json(str(state), {"trials": 1})

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)  # the job dies after writing, before the new file takes over
    with pytest.raises(KeyboardInterrupt):
        kt_utils.save_json(str(state), {"trials": 2})
    assert json.loads(state.read_text()) == {"trials": 1}

