"""Face datasets: raw videos -> square face clips (`tiw preprocess`), read by training and evaluation.

layout.py       the folder layout: DIR/<split>/*.mp4, landmarks beside each clip, manifest.json
manifest.py     manifest.json: read, checked, written merged with a concurrent run's (folder lock)
preprocess.py   raw videos -> tracked, cut and cropped clips, split by source video (identity)
"""
