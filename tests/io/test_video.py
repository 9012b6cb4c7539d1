from fractions import Fraction

import av
import numpy as np
import pytest

from tiwcli.errors import InputError
from tiwcli.io.video import VideoReader, VideoWriter, probe_video, read_all_frames


def test_reads_a_real_clip(carphone):
    info = probe_video(carphone)
    assert (info.width, info.height, info.num_frames) == (176, 144, 120)
    assert info.fps == Fraction(30000, 1001)
    with VideoReader(carphone) as reader:
        batches = list(reader.batches(32))
    assert [len(b) for b in batches] == [32, 32, 32, 24]
    assert batches[0].shape[1:] == (144, 176, 3) and batches[0].dtype == np.uint8


def test_writer_keeps_fps_and_copies_audio(wolfgang, tmp_path):
    out = tmp_path / "out.mp4"
    with VideoReader(wolfgang) as reader, VideoWriter(out, reader.info.fps, audio_from=wolfgang) as writer:
        for index, frame in enumerate(reader.frames()):
            writer.write(frame[::4, ::4])
            if index == 47:
                break
    info = probe_video(out)
    assert (info.num_frames, info.fps, info.width, info.height) == (48, Fraction(24000, 1001), 160, 90)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        # audio is carried in time order up to the last video frame
        assert sum(1 for _ in container.demux(audio)) > 10


def test_writer_leaves_nothing_on_error(carphone, tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError), VideoWriter(out, 25) as writer:
        writer.write(np.zeros((64, 64, 3), np.uint8))
        raise RuntimeError("model crashed")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_existing_output(tmp_path):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists"):
        VideoWriter(out, 25)
    assert out.read_bytes() == b"keep me"


def test_rotation_metadata_is_applied(tmp_path):
    path = tmp_path / "rotated.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)
        for index in range(3):
            image = np.zeros((32, 64, 3), np.uint8)
            image[:16, :32] = 255  # top-left corner white
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (32, 64, 90)
    frame = read_all_frames(path)[0]
    assert frame.shape == (64, 32, 3)
    assert frame[-8:, :8].mean() > 200 and frame[:8, :8].mean() < 50  # turned counter-clockwise


@pytest.mark.parametrize("content", [b"", b"\x00" * 3000, b"not a video at all" * 100])
def test_garbage_files_are_input_errors(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError):
        probe_video(path)


def test_truncated_real_clip(carphone, tmp_path):
    path = tmp_path / "truncated.mp4"
    path.write_bytes(carphone.read_bytes()[:2048])
    with pytest.raises(InputError):
        read_all_frames(path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = (np.sin(np.arange(16000) / 10) * 0.3).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(np.repeat(samples, 1, 0), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(InputError, match="no video stream"):
        probe_video(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        probe_video(tmp_path / "absent.mp4")


def test_audio_stops_where_the_video_does(wolfgang, tmp_path):
    out = tmp_path / "short.mp4"
    with VideoReader(wolfgang) as reader, VideoWriter(out, reader.info.fps, audio_from=wolfgang) as writer:
        for index, frame in enumerate(reader.frames()):
            writer.write(frame[::4, ::4])
            if index == 23:
                break
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        last = max(
            packet.pts * packet.time_base for packet in container.demux(audio) if packet.pts is not None
        )
    assert float(last) < 24 * 1001 / 24000 + 0.05  # 1.0 s of video; the whole clip's audio is 19.7 s
