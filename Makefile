# Thin front-end to meson for the README's commands. No source lists here:
# meson.build is the one place files are registered.
BUILD    ?= build
ASAN     ?= build-asan
FUZZDIR  ?= build-fuzz
PREFIX   ?= /usr/local
DESTDIR  ?=
PORT     ?= 8000
FUZZ_SECONDS ?= 30
MESON    ?= meson
comma    := ,

.PHONY: all deps check demo install asan valgrind fuzz bench soak clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	scripts/install-deps.sh build
	$(MESON) setup $(BUILD) --prefix=$(PREFIX)

deps:
	scripts/install-deps.sh check

# The test suite needs cmocka. The meson default, -Dtests=auto, builds it
# only when cmocka is found, so that make and make demo never need cmocka;
# the targets that run tests ask for -Dtests=enabled, which makes a missing
# cmocka an error rather than a quietly shorter run; -Dredis=enabled and
# -Dzlib=enabled do the same for hiredis and zlib (install-deps.sh brings
# them).
# $(call tests_on,DIR,OPTS) configures DIR that way, set up afresh with
# OPTS or reconfigured.
tests_on = if [ -f $(1)/build.ninja ]; then $(MESON) configure $(1) -Dtests=enabled -Dredis=enabled -Dzlib=enabled; \
	   else $(MESON) setup $(1) $(2) -Dtests=enabled -Dredis=enabled -Dzlib=enabled; fi

check:
	scripts/install-deps.sh check
	tests/interop/setup.sh
	@$(call tests_on,$(BUILD),--prefix=$(PREFIX))
	ninja -C $(BUILD)
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2

demo:
	scripts/install-deps.sh demo
	tests/interop/centrifuge/setup.sh
	@[ -f $(BUILD)/build.ninja ] || $(MESON) setup $(BUILD) --prefix=$(PREFIX)
	ninja -C $(BUILD) examples/demo/wsp-demo
	$(BUILD)/examples/demo/wsp-demo --listen 127.0.0.1:$(PORT)

# meson writes the install plan and libwsp.pc when it configures, and
# `meson configure` only marks the build for regeneration: a plain
# `meson install --no-rebuild` after it would install to the previous
# prefix. So install sets PREFIX, lets ninja regenerate (nothing is
# recompiled for a new prefix), then installs, under DESTDIR when given.
# tests/install/run.sh checks this with two prefixes in a row, in a build
# directory of its own so that the tests using $(BUILD) are not disturbed.
install: all
	$(MESON) configure $(BUILD) --prefix=$(PREFIX)
	ninja -C $(BUILD)
	$(MESON) install -C $(BUILD) --no-rebuild $(if $(DESTDIR),--destdir '$(abspath $(DESTDIR))')

asan:
	scripts/install-deps.sh asan
	tests/interop/setup.sh
	@$(call tests_on,$(ASAN),-Db_sanitize=address$(comma)undefined -Db_lundef=false -Dbuildtype=debug)
	ninja -C $(ASAN)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(MESON) test -C $(ASAN) --print-errorlogs --num-processes 2 --timeout-multiplier 3

valgrind:
	scripts/install-deps.sh check
	@$(call tests_on,$(BUILD),--prefix=$(PREFIX))
	ninja -C $(BUILD)
	$(MESON) test -C $(BUILD) --suite unit --print-errorlogs --num-processes 2 --timeout-multiplier 10 \
	  --wrapper 'valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible --track-fds=no --quiet'

fuzz:
	scripts/install-deps.sh fuzz
	@[ -f $(FUZZDIR)/build.ninja ] || CC=clang $(MESON) setup $(FUZZDIR) -Dfuzz=true -Dtests=disabled -Dexamples=false -Db_lundef=false
	ninja -C $(FUZZDIR)
	fuzz/run.sh $(FUZZDIR) $(FUZZ_SECONDS)

bench: all
	scripts/install-deps.sh bench
	tests/interop/setup.sh
	$(BUILD)/bench/bench-idle-memory
	$(BUILD)/bench/bench-echo
	$(BUILD)/bench/bench-json
	$(BUILD)/bench/bench-corr
	$(BUILD)/bench/bench-evlog
	bench/run-rpc.sh $(BUILD) --connections 10 --inflight 8 --seconds 3
	bench/pubsub/run.sh $(BUILD) --quick --repeat 3
	@if command -v redis-server >/dev/null 2>&1; then \
	  echo "bench/redis/run.sh $(BUILD) --quick"; bench/redis/run.sh $(BUILD) --quick; \
	else echo "bench/redis: skipped (redis-server is not installed)"; fi

# The full soak run (about 3 minutes); CI runs bench/soak/run.sh --quick.
soak: all
	bench/soak/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZDIR)
