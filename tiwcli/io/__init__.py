"""Files in and out: frames as (H, W, 3) uint8 RGB arrays, streamed, never all held at once.

video.py       PyAV reading and writing (streaming, rotation, audio carried across, atomic output)
audio.py       the audio of another file carried into an output video (copied, or re-encoded to AAC)
images.py      photos in and out (EXIF rotation, alpha, size limits), resizing
frames.py      frames <-> model tensors, batch resizing
streaming.py   background threads: prefetch ahead of a consumer, consume behind a producer
files.py       input and output checks (one-line errors), SIGTERM as Ctrl-C
"""
