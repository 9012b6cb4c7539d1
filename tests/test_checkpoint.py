import pickle
from pathlib import Path

import pytest
import torch

from tiwcli.checkpoint import load_model, load_tensors, save_model, save_tensors
from tiwcli.config import model_preset
from tiwcli.errors import InputError, MissingWeightsError, OutputError
from tiwcli.models import ImplicitWarping


@pytest.fixture
def saved(tmp_path, tiny_config):
    torch.manual_seed(0)
    model = ImplicitWarping(tiny_config).eval()
    path = tmp_path / "model.safetensors"
    save_model(path, model, {"step": "7"})
    return model, path


def test_round_trip_gives_identical_outputs(saved, tiny_config):
    model, path = saved
    loaded = load_model(path)
    assert loaded.config == tiny_config
    assert not loaded.training
    size = tiny_config.image_size
    sources, driving = torch.rand(1, 2, 3, size, size), torch.rand(1, 3, size, size)
    with torch.no_grad():
        assert torch.equal(model(sources, driving).image, loaded(sources, driving).image)
    _, metadata = load_tensors(path)
    assert metadata["step"] == "7" and metadata["format"] == "tiw-model-v1"


def test_missing_file(tmp_path):
    with pytest.raises(MissingWeightsError, match="no such checkpoint"):
        load_model(tmp_path / "absent.safetensors")


def test_truncated_file(saved, tmp_path):
    _, path = saved
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_model(truncated)


def test_random_bytes_and_pickles_are_refused(tmp_path, tiny_config):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a checkpoint" * 50)
    with pytest.raises(InputError):
        load_model(garbage)
    pickled = tmp_path / "pickled.safetensors"
    pickled.write_bytes(pickle.dumps(ImplicitWarping(tiny_config).state_dict()))
    with pytest.raises(InputError):
        load_model(pickled)


def test_not_a_model_checkpoint(tmp_path):
    path = tmp_path / "other.safetensors"
    save_tensors(path, {"x": torch.zeros(2)}, {"format": "something-else"})
    with pytest.raises(InputError, match="not a tiw model checkpoint"):
        load_model(path)


def test_weights_that_do_not_match_the_config(saved, tmp_path):
    _, path = saved
    tensors, metadata = load_tensors(path)
    metadata["config"] = model_preset("small-256").to_json()
    mismatched = tmp_path / "mismatched.safetensors"
    save_tensors(mismatched, tensors, metadata)
    with pytest.raises(InputError, match=r"shape|missing"):
        load_model(mismatched)
    del tensors["generator.to_rgb.bias"]
    partial = tmp_path / "partial.safetensors"
    save_tensors(partial, tensors, load_tensors(path)[1])
    with pytest.raises(InputError, match="1 missing"):
        load_model(partial)


def test_unknown_config_field(saved, tmp_path):
    _, path = saved
    tensors, metadata = load_tensors(path)
    metadata["config"] = metadata["config"].replace('{"', '{"wings": 2, "', 1)
    odd = tmp_path / "odd.safetensors"
    save_tensors(odd, tensors, metadata)
    with pytest.raises(InputError, match="unknown ModelConfig fields"):
        load_model(odd)


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "out.safetensors"
    save_tensors(path, {"x": torch.ones(3)}, {})
    import tiwcli.checkpoint as checkpoint

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", broken)
    with pytest.raises(OutputError, match="disk full"):  # one line, exit 2: not a traceback
        save_tensors(path, {"x": torch.zeros(3)}, {})
    assert torch.equal(load_tensors(path)[0]["x"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["out.safetensors"]


def _with_config(path, tmp_path, name, **changes):
    """A copy of the checkpoint at `path` whose stored config has `changes` (raw JSON values)."""
    import json

    tensors, metadata = load_tensors(path)
    config = json.loads(metadata["config"])
    config.update(changes)
    metadata["config"] = json.dumps(config)
    edited = tmp_path / name
    save_tensors(edited, tensors, metadata)
    return edited


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"feature_size": 0}, "feature_size must be a whole number from 1"),
        ({"num_keypoints": -5}, "num_keypoints must be a whole number from 1 to 256"),
        ({"image_size": "64"}, "image_size must be a whole number"),
        ({"key_dim": 10**9}, "key_dim must be a whole number from 1 to 4096"),
        ({"encoder_depth": 2.5}, "encoder_depth must be a whole number"),
        ({"heatmap_sigma": 0}, "heatmap_sigma must be > 0"),
        ({"locality_sigma": None}, "locality_sigma must be a finite number"),
        ({"full_resolution_warp": "yes"}, "full_resolution_warp must be true or false"),
    ],
)
def test_absurd_config_values_are_one_line(saved, tmp_path, changes, message):
    """D5: a checkpoint config with zero, negative, huge or mistyped values is an InputError naming
    the file and the field (before: ZeroDivisionError and other tracebacks)."""
    _, path = saved
    edited = _with_config(path, tmp_path, "edited.safetensors", **changes)
    with pytest.raises(InputError, match=message) as error:
        load_model(edited)
    assert str(edited) in str(error.value) and "\n" not in str(error.value)


def test_a_config_bigger_than_its_tensors_allocates_nothing(saved, tmp_path, monkeypatch):
    """D6: a small file whose config asks for wide layers is refused after comparing shapes on the
    meta device: no real model is built (before: the model was allocated first, 2.1 GB for a
    730-byte file whose config said 12000)."""
    import tiwcli.checkpoint
    from tiwcli.models.implicit_warping import ImplicitWarping as Model

    built_on = []

    class Spy(Model):
        def __init__(self, config):
            super().__init__(config)
            built_on.append(next(self.parameters()).device.type)

    monkeypatch.setattr(tiwcli.checkpoint, "ImplicitWarping", Spy)
    _, path = saved
    wide = _with_config(
        path, tmp_path, "wide.safetensors", key_dim=1024, value_dim=1024, residual_hidden=2048
    )
    with pytest.raises(InputError, match="has shape"):
        load_model(wide)
    assert built_on == ["meta"]
    load_model(path)  # the untouched file: compared on meta, then built for real
    assert built_on == ["meta", "meta", "cpu"]


def test_shipped_weights_by_name(monkeypatch, tmp_path, tiny_config):
    from tiwcli.checkpoint import SHIPPED_NAMES, resolve_weights
    from tiwcli.errors import MissingWeightsError

    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr("tiwcli.checkpoint.shipped_weights_dirs", lambda: [folder])
    with pytest.raises(MissingWeightsError, match=r"tiw-fast-256\.safetensors"):
        resolve_weights(Path("fast"))
    save_model(folder / SHIPPED_NAMES["fast"], ImplicitWarping(tiny_config))
    assert resolve_weights(Path("fast")) == folder / "tiw-fast-256.safetensors"
    (tmp_path / "fast").write_bytes(b"")  # a file of that name in the working folder wins
    monkeypatch.chdir(tmp_path)
    assert resolve_weights(Path("fast")) == Path("fast")
