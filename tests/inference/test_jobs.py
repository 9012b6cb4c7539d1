"""`tiwcli.inference.jobs`: `tiw animate` from Python, files in and files out."""

from __future__ import annotations

import pytest
import torch

from tiwcli.checkpoint import save_model
from tiwcli.errors import InputError
from tiwcli.inference.jobs import AnimationJob, prepare_job, run_job
from tiwcli.inference.options import AnimateOptions
from tiwcli.io.video import VideoReader, VideoWriter, probe_video
from tiwcli.models import ImplicitWarping


@pytest.fixture(scope="module")
def files(tmp_path_factory, carphone, tiny_config):
    folder = tmp_path_factory.mktemp("render")
    torch.manual_seed(0)
    weights = folder / "tiny.safetensors"
    save_model(weights, ImplicitWarping(tiny_config))
    driving = folder / "driving.mp4"
    with VideoReader(carphone) as reader, VideoWriter(driving, reader.info.fps) as writer:
        for index, frame in enumerate(reader.frames()):
            if index == 10:
                break
            writer.write(frame[:, 16:160])  # square 144x144 crop of a real face
    return weights, driving


def test_job_from_a_source_video_without_cropping(tmp_path, files, tiny_config):
    weights, driving = files
    output = tmp_path / "out.mp4"
    job = AnimationJob(sources=[driving], driving=driving, output=output, weights=weights, preview=True)
    prepared = prepare_job(job)
    assert prepared.source_video is not None and prepared.weights == weights
    options = AnimateOptions(device="cpu", crop=False, num_sources=2, batch_size=4)
    from tiwcli.checkpoint import load_model

    summary = run_job(prepared, load_model(weights), options)
    assert summary.frames == 10 and len(summary.sources_used) == 2
    info = probe_video(output)
    assert (info.num_frames, info.width) == (10, tiny_config.image_size)
    assert probe_video(tmp_path / "out.preview.mp4").num_frames == 10


def test_prepare_checks_outputs_before_any_work(tmp_path, files):
    weights, driving = files
    output = tmp_path / "out.mp4"
    output.write_bytes(b"existing")
    with pytest.raises(InputError, match="already exists"):
        prepare_job(AnimationJob(sources=[driving], driving=driving, output=output, weights=weights))
    with pytest.raises(InputError, match="must be a video"):
        prepare_job(
            AnimationJob(sources=[driving], driving=driving, output=tmp_path / "o.gif", weights=weights)
        )
    assert output.read_bytes() == b"existing"
