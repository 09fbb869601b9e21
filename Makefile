# The two commands a fresh machine needs: `make setup`, then `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ROWS    ?= 256
TRACKS  ?= 32
DOMAINS ?= 16
JOBS    ?= 2
BOARD   ?= ulx3s

# An option for a variable given on make's command line: `make fpga ROWS=64` passes --rows 64,
# and sizes not given come from the board (constraints/ and its part's resources).
given = $(if $(filter command line,$(origin $(1))),$(2) $($(1)))

.PHONY: setup test lint verilog fpga bench e2e model clean

setup: $(BIN)/rtmap

$(BIN)/rtmap: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	$(BIN)/python -m pip install --quiet -e '.[dev,fpga]'
	touch $@

# One BLAS thread per test worker: the workers already fill the cores.
test: setup
	OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadgroup

lint: setup
	$(BIN)/ruff check rtmap hw compiler sim train tests bench

verilog: setup
	$(BIN)/rtmap verilog -o build/verilog --rows $(ROWS) --tracks $(TRACKS) --domains $(DOMAINS)

# A board's bitstream and build/fpga/$(BOARD)/report.json (Fmax, resources), printed as a table.
fpga: setup
	$(BIN)/rtmap fpga build --board $(BOARD) $(call given,ROWS,--rows) \
		$(call given,TRACKS,--tracks) $(call given,DOMAINS,--domains) \
		$(call given,PROGRAM_DEPTH,--program-depth) $(call given,TARGET_MHZ,--target-mhz)

# Figures the issues ask for, printed as tables: every bench/bench_*.py in turn.
bench: setup
	@for script in bench/bench_*.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The trained digits TWN on the float fake-quant, golden, simulator and RTL models, side by
# side, over the whole test split (the RTL in $(JOBS) Verilator processes).
e2e: setup
	OPENBLAS_NUM_THREADS=1 $(BIN)/python bench/e2e_digits.py --jobs $(JOBS)

# Train the digits TWN again and write models/digits (committed; tests never retrain).
model: setup
	$(BIN)/python -m rtmap.train.digits -o models/digits

clean:
	rm -rf build sim_build .pytest_cache
