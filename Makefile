# Bosun - the README's commands are targets here.
#   make run    install what is missing, build, start a single-node cluster with the demo app
#   make test   install what is missing, build with ASan+UBSan, run every test
BUILD      ?= build
TEST_BUILD ?= build-asan
MESON_FLAGS ?=

.PHONY: all deps build run test unit integration fuzz fuzz-build bench format format-check clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dtests=false $(MESON_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@scripts/run.sh

$(TEST_BUILD)/build.ninja:
	meson setup $(TEST_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false $(MESON_FLAGS)

test: deps $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	@scripts/test.sh $(TEST_BUILD) $(BUILD)

unit: deps $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	meson test -C $(TEST_BUILD) --print-errorlogs --suite unit

integration: deps $(TEST_BUILD)/build.ninja
	ninja -C $(TEST_BUILD)
	BOSUN=$(abspath $(TEST_BUILD))/bosun bats -r tests/integration

fuzz-build:
	CC=clang meson setup build-fuzz --buildtype=debugoptimized -Dfuzz=true -Dtests=false 2>/dev/null || true
	ninja -C build-fuzz

fuzz: deps fuzz-build
	@scripts/fuzz.sh build-fuzz $${FUZZ_SECONDS:-60}

bench: build
	@BOSUN_BENCH_DEPS=1 scripts/install-deps.sh
	@bench/run-all.sh $(BUILD)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-fuzz
