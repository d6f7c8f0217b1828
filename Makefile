# SPDX-License-Identifier: Apache-2.0
# The two commands of the README:
#   make run    install what is missing, build, run the default pipeline
#   make test   install what is missing, build, run the whole test suite
BUILD ?= build
JOBS ?= $(shell nproc)
PIPELINE ?= pipelines/quickstart.yaml
RUNNER = $(BUILD)/bin/runner

.PHONY: all deps configure build run test install bench faults fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(RUNNER) $(PIPELINE)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 1500

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

bench: build
	bash scripts/bench_check.sh $(RUNNER)
	BIN=$(BUILD)/bin/electra_pretrain_bench PLUGINS=$(BUILD)/plugins bash scripts/bench_electra.sh
	BIN=$(BUILD)/bin/embed_bench PLUGINS=$(BUILD)/plugins bash scripts/bench_embed.sh

# The fault-injection suite (docs/reliability.md): 20 SIGKILLs, SIGTERM, a full disk, a corrupted checkpoint.
faults: build
	bash scripts/faults.sh $(RUNNER) $(or $(KILLS),20)

# libFuzzer targets (fuzz/README.md) with clang, ASan and UBSan, FUZZ_SECONDS each.
fuzz:
	bash scripts/fuzz.sh $(or $(FUZZ_SECONDS),600)

clean:
	rm -rf $(BUILD) build-fuzz
