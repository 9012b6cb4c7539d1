"""Animation: a model + source images + driving frames -> animated frames (`tiw animate`, `tiw live`).

options.py        AnimateOptions, and the records an animation hands back (sources, batches, summary)
motion.py         relative motion on keypoints, best reference frame, choosing source frames
animator.py       Animator: the streaming core (frame iterator in, frame iterator out; no files)
source_choice.py  source photos cut around their face, or the most different frames of a source video
landmark_references.py  what a driver's landmarks move from (first face, mouth closed), batch to batch
framing.py        frames -> model-size crops: face tracking, cutting, fitting (and landmarks)
jobs.py           files in, files out: check inputs, load the model, write the video (and preview)
preview.py        the preview strip: sources | driving | result, keypoints drawn
live_capture.py   `tiw live`'s input: camera, stream or file, and the latest-frame queue
live.py           `tiw live`: capture -> faces -> model worker(s) -> outputs, in threads
live_outputs.py   `tiw live`'s outputs: window, virtual camera, video file
onnx_export.py    `tiw export`: the model as one ONNX file (keypoints, sources and render graphs)
onnx_engine.py    OnnxEngine: that file run by ONNX Runtime, standing in for the torch model
"""
