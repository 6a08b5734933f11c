# Thin wrapper over CMake. `make run` builds and tells a story; `make test`
# runs the suite; `make asan` runs it again under ASan+UBSan; `make install`
# installs the library, headers, matchbox.pc and the CLI (docs/LIBRARY.md).
JOBS ?= $(shell nproc)
BUILD ?= build
MODEL_ARGS ?=
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all run test asan fuzz clean format deps check-includes install

all: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/Makefile:
	@scripts/check-deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

run: all
	@$(BUILD)/bin/matchbox run -n 256 $(MODEL_ARGS) "Once upon a time"

install: all
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

test: all
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMB_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)

fuzz:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DMB_FUZZ=ON -DMB_SANITIZE=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@scripts/fuzz-run build-fuzz $${FUZZ_SECONDS:-60}

check-includes:
	@scripts/check-includes
	@scripts/check-testing-doc

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

deps:
	@scripts/install-deps

clean:
	rm -rf build build-asan build-fuzz
