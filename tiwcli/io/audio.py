"""Audio carried across: the first audio stream of one file muxed into an output video.

Codecs MP4 can hold are copied packet by packet (`add_stream_from_template`); anything else is
decoded and encoded again as AAC. `VideoWriter` (video.py) copies up to each frame it writes.
"""

from __future__ import annotations

from fractions import Fraction

import av
import av.error

# Audio codecs an .mp4 can carry as they are; anything else is re-encoded to AAC.
MP4_AUDIO_CODECS = {"aac", "mp3", "alac", "opus", "ac3", "eac3", "flac"}


class AudioCopier:
    """Carry the first audio stream of one file into an output container, in time order."""

    def __init__(self, source: av.container.InputContainer, output: av.container.OutputContainer) -> None:
        self._source = source
        self._in = source.streams.audio[0]
        self._output = output
        self._copy = self._in.codec_context.name in MP4_AUDIO_CODECS
        if self._copy:
            self._out = output.add_stream_from_template(self._in)
        else:
            self._out = output.add_stream("aac", rate=self._in.codec_context.sample_rate or 48000)
            self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=self._out.rate)
        self._packets = source.demux(self._in)
        self._done = False

    @classmethod
    def from_source(
        cls, source: av.container.InputContainer, output: av.container.OutputContainer
    ) -> AudioCopier | None:
        """None, with `source` closed, when it has no audio stream."""
        if not source.streams.audio:
            source.close()
            return None
        return cls(source, output)

    def copy_until(self, seconds: float | Fraction, final: bool = False) -> None:
        """Mux audio packets that start before `seconds`; with `final`, drop the rest and flush."""
        while not self._done:
            try:
                packet = next(self._packets)
            except (StopIteration, av.error.FFmpegError):
                self._done = True
                break
            if packet.dts is None:
                continue
            starts = packet.pts * packet.time_base if packet.pts is not None and packet.time_base else None
            if final and starts is not None and starts >= seconds:
                self._done = True
                break
            self._mux(packet)
            if starts is not None and starts >= seconds:
                break
        if final and not self._copy:
            for out_packet in self._out.encode(None):
                self._output.mux(out_packet)

    def _mux(self, packet: av.Packet) -> None:
        if self._copy:
            packet.stream = self._out
            self._output.mux(packet)
            return
        for frame in packet.decode():
            for resampled in self._resampler.resample(frame):
                for out_packet in self._out.encode(resampled):
                    self._output.mux(out_packet)

    def close(self) -> None:
        self._source.close()
