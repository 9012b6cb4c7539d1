"""One thin module per `tiw` command (parse options, build the library's settings, call it, print);
`options.py` holds the option types and blocks they share; `tiwcli/cli.py` registers them.

animate.py      tiw animate    -> tiwcli.inference.jobs
live.py         tiw live       -> tiwcli.inference.live
preprocess.py   tiw preprocess -> tiwcli.dataset.preprocess
train.py        tiw train      -> tiwcli.training.run, tiwcli.training.loop
evaluate.py     tiw eval       -> tiwcli.evaluation.protocols, tiwcli.evaluation.videos
bench.py        tiw bench      -> tiwcli.evaluation.bench, tiwcli.evaluation.bench_end_to_end
export.py       tiw export     -> tiwcli.inference.onnx_export
"""
