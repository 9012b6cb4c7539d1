import dataclasses

import pytest

from tiwcli.config import MODEL_PRESETS, ModelConfig, model_preset
from tiwcli.errors import InputError


@pytest.mark.parametrize("name", sorted(MODEL_PRESETS))
def test_presets_round_trip_through_json(name):
    config = model_preset(name)
    assert ModelConfig.from_json(config.to_json()) == config


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        model_preset("tiny").image_size = 128  # type: ignore[misc]


def test_unknown_preset_lists_the_names():
    with pytest.raises(InputError, match="tiny"):
        model_preset("huge")


def test_inconsistent_sizes_are_refused():
    with pytest.raises(InputError, match="power of two"):
        ModelConfig(image_size=256, feature_size=48)
