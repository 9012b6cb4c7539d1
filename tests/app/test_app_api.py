"""The `/animate` endpoint through gradio_client, called as docs/app.md shows."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("gradio_client", reason='the API test needs gradio_client: pip install -e ".[app]"')


def test_animate_endpoint_returns_the_video(app_url, app_inputs, face_photo, cli_frames, count_frames):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    video = client.predict(
        handle_file(str(face_photo)),
        {"video": handle_file(str(app_inputs / "clip.mp4"))},
        api_name="/animate",
    )
    assert Path(video).suffix == ".mp4"
    assert count_frames(Path(video)) == cli_frames


def test_animate_endpoint_takes_every_option(app_url, app_inputs, face_photo, cli_frames, count_frames):
    """All the optional arguments, in docs/app.md's order, the mouth opening last."""
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    video = client.predict(
        handle_file(str(face_photo)),
        {"video": handle_file(str(app_inputs / "clip.mp4"))},
        [], "relative", False, True, "auto", 3, "warp", 1.5,
        api_name="/animate",
    )  # fmt: skip
    assert count_frames(Path(video)) == cli_frames
    with pytest.raises(Exception, match="teeth"):  # Gradio refuses a value not among the choices
        client.predict(
            handle_file(str(face_photo)),
            {"video": handle_file(str(app_inputs / "clip.mp4"))},
            [], "relative", False, True, "auto", 3, "teeth",
            api_name="/animate",
        )  # fmt: skip
    with pytest.raises(Exception, match="greater than maximum value 3"):  # the slider refuses it
        client.predict(
            handle_file(str(face_photo)),
            {"video": handle_file(str(app_inputs / "clip.mp4"))},
            [], "relative", False, True, "auto", 3, "driver", 7,
            api_name="/animate",
        )  # fmt: skip


def test_animate_endpoint_error_is_the_cli_message(app_url, app_inputs):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    with pytest.raises(Exception, match=r"grey\.jpg: no face found"):
        client.predict(
            handle_file(str(app_inputs / "grey.jpg")),
            handle_file(str(app_inputs / "clip.mp4")),
            api_name="/animate",
        )
