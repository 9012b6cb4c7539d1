"""Evaluation: the paper's protocols and metrics (`tiw eval`) and speed measurements (`tiw bench`).

report.py              EvalSettings, the report (rows of method x sources x metrics), JSON/CSV/plot
protocols.py           reconstruction and cross-identity on a dataset; the model as a method
videos.py              any tool's videos scored against real ones (--pred/--real)
people.py              who is in which clip (cross-identity pairing)
baselines.py           copy-source and landmark-warp baselines
metrics/               L1, PSNR, SSIM, LPIPS, FID, KID, AKD, MKR, AED
bench.py               the model alone: latency, throughput, FLOPs, profile, machine load
bench_end_to_end.py    `tiw animate` end to end on real clips, one child process per run
bench_child.py         that child: the render API in, a JSON summary out
"""
