# bench/bench.mk: fan-out benchmark suite targets, included by the top Makefile.
#   make bench-deps    install missing Debian packages the suite needs (idempotent)
#   make bench-test    unit tests of the histogram and the harness parsers (cmocka)
#   make bench-smoke   one small cell per contender and transport, a 200-client join storm and
#                      a 100-client idle-memory cell (~35 s; CI gate on loss/no result)
#   make bench-quick   reduced matrix, join storms, idle memory, ceiling search, embedding API
#                      and slow clients, 3 interleaved repetitions (~30 min), writes bench/results/
#   make bench-transport  TCP, Unix socket and TLS at N = 100, 1000 (~15 min), writes bench/results/
#   make bench         full matrix (5 interleaved runs per cell; ~3-4 hours)
#   make bench-nats    the NATS scale profile (bench/nats.py): origin + nats-server + 4 edges, each
#                      edge at its fd limit (65,280 clients), against a lone ringside; 3 interleaved
#                      repetitions (~10 min), writes bench/results/<date>-nats/
#   make bench-nats-smoke  the same at 200 clients per server, one repetition (< 60 s; CI gate on loss)
# The bench binaries need liburing and OpenSSL (the harness's TLS client and the
# TLS floor); they are built into $(BUILD)/bench/.

BENCH_DIR   := bench
BENCH_OUT   := $(BUILD)/bench
BENCH_PKGS  := redis-server ncat gnuplot-nox liburing-dev libcmocka-dev libssl-dev openssl \
               util-linux coreutils procps python3 pkg-config build-essential nats-server
# Our own flags: the top CFLAGS may carry pkg-config output of libraries we do not
# use, and must not break the bench build if one of them is missing.
BENCH_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Wshadow -Wmissing-prototypes \
                -Wstrict-prototypes -Wformat=2 -D_GNU_SOURCE -I$(BENCH_DIR) \
                $(shell pkg-config --cflags liburing 2>/dev/null)
BENCH_URING  := $(shell pkg-config --libs liburing 2>/dev/null || echo -luring)
BENCH_CMOCKA := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
BENCH_SSL    := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

BENCH_BINS  := $(BENCH_OUT)/fanout-client $(BENCH_OUT)/producer $(BENCH_OUT)/floor \
               $(BENCH_OUT)/naive
BENCH_TESTS := $(BENCH_OUT)/test_hist $(BENCH_OUT)/test_parse
BENCH_COMMON_H := $(BENCH_DIR)/hist.h $(BENCH_DIR)/parse.h $(BENCH_DIR)/util.h

BENCH_PY    := python3 $(BENCH_DIR)/run.py --build $(BENCH_OUT) --ringside $(BUILD)/ringside

.PHONY: bench bench-quick bench-cpu bench-transport bench-smoke bench-deps bench-test bench-bins bench-ringside \
	bench-clean bench-nats bench-nats-smoke

bench-bins: $(BENCH_BINS)

$(BENCH_OUT)/fanout-client: $(BENCH_DIR)/fanout-client.c $(BENCH_DIR)/hist.c \
		$(BENCH_DIR)/parse.c $(BENCH_DIR)/util.c $(BENCH_DIR)/xport.c $(BENCH_DIR)/storm.c \
		$(BENCH_COMMON_H) $(BENCH_DIR)/xport.h $(BENCH_DIR)/storm.h
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(BENCH_CFLAGS) -o $@ $(filter %.c,$^) $(BENCH_SSL) -lm

$(BENCH_OUT)/producer: $(BENCH_DIR)/producer.c $(BENCH_DIR)/parse.c $(BENCH_DIR)/util.c $(BENCH_COMMON_H)
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(BENCH_CFLAGS) -o $@ $(filter %.c,$^)

$(BENCH_OUT)/floor: $(BENCH_DIR)/floor.c $(BENCH_DIR)/util.c $(BENCH_COMMON_H)
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(BENCH_CFLAGS) -o $@ $(filter %.c,$^) $(BENCH_URING) $(BENCH_SSL) -lutil

$(BENCH_OUT)/naive: $(BENCH_DIR)/naive.c $(BENCH_DIR)/util.c $(BENCH_COMMON_H)
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(BENCH_CFLAGS) -o $@ $(filter %.c,$^) -lutil

$(BENCH_OUT)/test_hist: $(BENCH_DIR)/test_hist.c $(BENCH_DIR)/hist.c $(BENCH_DIR)/hist.h
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(BENCH_CFLAGS) -o $@ $(filter %.c,$^) $(BENCH_CMOCKA) -lm

$(BENCH_OUT)/test_parse: $(BENCH_DIR)/test_parse.c $(BENCH_DIR)/parse.c $(BENCH_DIR)/parse.h
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(BENCH_CFLAGS) -o $@ $(filter %.c,$^) $(BENCH_CMOCKA)

# Installs only what dpkg does not already report as installed.  Debian starts a
# system redis on install where systemd runs; the suite runs its own, so stop it.
bench-deps:
	@missing=$$(for p in $(BENCH_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "bench-deps: installing" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi; \
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q redis-server 2>/dev/null; then \
		systemctl stop redis-server >/dev/null 2>&1 || true; fi

bench-test: $(BENCH_TESTS)
	$(Q)rc=0; for t in $(BENCH_TESTS); do $$t 2>&1 || rc=1; done; exit $$rc

# ringside itself is built by the top Makefile when its sources exist; the runner
# reports it as "not built" (and smoke fails) if the binary is missing.
bench-ringside:
	$(Q)if [ -f src/main.c ]; then $(MAKE) --no-print-directory $(BUILD)/ringside; fi

bench-smoke: bench-deps bench-bins bench-ringside
	$(Q)$(BENCH_PY) --profile smoke

# embed-bench's rule is the top Makefile's (it links the static library).
bench-quick: bench-deps bench-bins bench-ringside $(BENCH_OUT)/embed-bench
	$(Q)$(BENCH_PY) --profile quick

bench-cpu: bench-deps bench-bins bench-ringside
	$(Q)$(BENCH_PY) --profile cpu

bench-transport: bench-deps bench-bins bench-ringside
	$(Q)$(BENCH_PY) --profile transport

bench: bench-deps bench-bins bench-ringside $(BENCH_OUT)/embed-bench
	$(Q)$(BENCH_PY) --profile full

BENCH_NATS := python3 $(BENCH_DIR)/nats.py --build $(BENCH_OUT) --ringside $(BUILD)/ringside

bench-nats: bench-deps bench-bins bench-ringside
	$(Q)$(BENCH_NATS) --profile full

bench-nats-smoke: bench-deps bench-bins bench-ringside
	$(Q)$(BENCH_NATS) --profile smoke

bench-clean:
	rm -rf $(BENCH_OUT)
