# ringside: one non-recursive makefile.
#   make            build build/ringside, build/libringside.a and build/libringside.so
#   make install    install the library, its header, ringside.pc and the CLI
#                   (PREFIX=/usr/local, DESTDIR for staging)
#   make examples   build examples/ against a staged install, as any user would
#   make deps       install the Debian packages needed to build, test and run (idempotent)
#   make run        deps + build + host `gdb -q` on tcp port 5005 (loopback)
#   make test       deps + build + unit tests + integration tests
#   make fuzz       build the libFuzzer targets (clang) and run each briefly
#   make clean
# V=1 shows full commands; SANITIZE=1 builds with ASan+UBSan.

CC       ?= cc
BUILD    ?= build
PKGS     := liburing wolfssl libserialport libnats
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-unused-parameter
CFLAGS   ?= -O2 -g
# Everything is built position-independent and hidden: the shared library
# exports only what include/ringside.h declares (src/api.c marks it).
CFLAGS   += -std=gnu11 $(WARN) -D_GNU_SOURCE -I. $(PKG_CFLAGS) -MMD -MP \
            -fPIC -fvisibility=hidden
LDLIBS   += $(PKG_LIBS) -lutil
ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
CFLAGS   += $(SAN_FLAGS)
LDFLAGS  += -fsanitize=address,undefined
endif

ifneq ($(V),1)
Q        := @
quiet     = @printf '  %-6s %s\n' $(1) $(2);
endif

# libringside: the session, servers, clients and transports.  The CLI adds
# its option parser, the interactive client (-remote) and the repeater
# (-repeater), which are not part of the library.
CLI_SRC  := src/config.c $(wildcard src/remote*.c) $(wildcard src/repeater*.c) \
            src/nats_edge.c
LIB_SRC  := $(wildcard ring/*.c tls/*.c serial/*.c) \
            $(filter-out src/main.c $(CLI_SRC),$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
# Internal archives: every symbol visible, for the CLI and the unit tests.
LIB      := $(BUILD)/internal/libringside.a
CLI_LIB  := $(BUILD)/internal/libringside-cli.a
BIN      := $(BUILD)/ringside

# The public libraries: a static one whose internal symbols are made local
# (one relocatable object), and a shared one with a version script.
SOVERSION := 0
VERSION   := $(shell sed -n 's/^\#define RINGSIDE_VERSION "\(.*\)"/\1/p' include/ringside.h)
STATIC    := $(BUILD)/libringside.a
SHARED    := $(BUILD)/libringside.so.$(VERSION)
SHARED_LINKS := $(BUILD)/libringside.so.$(SOVERSION) $(BUILD)/libringside.so

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

# Debian packages: build, test, run.  bench/bench.mk adds its own.
DEPS_PKGS := build-essential pkg-config liburing-dev libwolfssl-dev libserialport-dev \
             libcmocka-dev gdb socat picocom netcat-openbsd python3 clang libclang-rt-14-dev \
             procps tmux inetutils-telnet nftables iproute2 util-linux \
             nats-server libnats-dev

.PHONY: all deps run test unit integration fuzz clean install examples
all: $(BIN) $(STATIC) $(SHARED_LINKS) $(HELPER_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(CLI_LIB): $(CLI_OBJ)
	@mkdir -p $(dir $@)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(CLI_LIB) $(LIB)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(STATIC): $(LIB_OBJ)
	$(call quiet,AR,$@)$(LD) -r -o $(BUILD)/libringside-all.o $^ && \
		objcopy --localize-hidden $(BUILD)/libringside-all.o && \
		rm -f $@ && $(AR) rcs $@ $(BUILD)/libringside-all.o

$(SHARED): $(LIB_OBJ) src/libringside.map
	$(call quiet,LD,$@)$(CC) $(LDFLAGS) -shared -Wl,-soname,libringside.so.$(SOVERSION) \
		-Wl,--version-script=src/libringside.map -Wl,--no-undefined -Wl,--as-needed \
		-o $@ $(LIB_OBJ) $(LDLIBS)

$(SHARED_LINKS): $(SHARED)
	$(Q)ln -sf $(notdir $(SHARED)) $(BUILD)/libringside.so.$(SOVERSION)
	$(Q)ln -sf libringside.so.$(SOVERSION) $(BUILD)/libringside.so

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR)
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHARED)) $(DESTDIR)$(LIBDIR)/libringside.so.$(SOVERSION)
	ln -sf libringside.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libringside.so
	install -m 644 include/ringside.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@REQUIRES@|$(PKGS)|' src/ringside.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/ringside.pc
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/

# The examples, built the way a user of the installed library builds them:
# against a staged install, found through pkg-config alone.
STAGE := $(abspath $(BUILD))/stage
examples: all
	$(Q)$(MAKE) --no-print-directory install PREFIX=$(STAGE) >/dev/null
	$(Q)$(MAKE) --no-print-directory -C examples OUT=$(abspath $(BUILD))/examples \
		PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig CC="$(CC) $(SAN_FLAGS)"

$(BUILD)/tests/test_%: tests/test_%.c $(LIB) $(CLI_LIB)
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(CLI_LIB) $(LIB) $(LDLIBS) $(CMOCKA_LIBS)

# test_serial_sp links every libserialport call serial/ makes to a fake.
SERIAL_SP_WRAP := sp_get_port_by_name sp_free_port sp_open sp_close sp_get_port_handle \
	sp_new_config sp_free_config sp_set_config_baudrate sp_set_config_bits \
	sp_set_config_parity sp_set_config_stopbits sp_set_config_flowcontrol sp_set_config \
	sp_get_config sp_get_config_baudrate sp_last_error_code sp_last_error_message \
	sp_free_error_message sp_list_ports sp_free_port_list sp_get_port_name \
	sp_get_port_description sp_get_port_transport sp_get_port_usb_vid_pid \
	sp_get_port_usb_manufacturer sp_get_port_usb_product sp_get_port_usb_serial \
	sp_get_port_bluetooth_address
$(BUILD)/tests/test_serial_sp: LDFLAGS += $(foreach f,$(SERIAL_SP_WRAP),-Wl,--wrap=$(f))

$(BUILD)/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Installs only what is missing, so it is cheap to run before every run/test.
deps:
	@missing=$$(for p in $(DEPS_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; \
	fi

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(BIN) -server tcp:port=5005 -- gdb -q

unit: all $(TEST_BIN)
	$(Q)sh tests/run-unit.sh $(TEST_BIN)

# IT_ARGS: e.g. --skip-slow, or test names.  IT_JOBS: how many tests run at a
# time (most wait on timers and clients; those marked exclusive run alone).
IT_JOBS ?= 4
integration: all examples
	$(Q)python3 tests/integration/run.py --bin $(BIN) --jobs $(IT_JOBS) $(IT_ARGS)

test: deps
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory integration

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 20
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC)
	@mkdir -p $(dir $@)
	$(call quiet,CLANG,$@)clang -g -O1 -std=gnu11 -D_GNU_SOURCE -I. $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-o $@ $< $(filter-out src/main.c,$(wildcard src/*.c)) $(wildcard ring/*.c) $(wildcard tls/*.c) \
		$(wildcard serial/*.c) $(PKG_LIBS) -lutil
fuzz: $(FUZZ_BIN)
	$(Q)sh tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

-include bench/bench.mk

# The embedding API against the pty path (bench/embed-bench.c), through the
# public static library: 1 KiB records to 1,000 raw clients.
EMBED_BENCH := $(BUILD)/bench/embed-bench
EMBED_ARGS  ?= --clients 1000 --records 5000
$(EMBED_BENCH): bench/embed-bench.c include/ringside.h $(STATIC)
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) -o $@ $< $(STATIC) $(LDLIBS)
.PHONY: bench-embed bench-embed-smoke
# Three runs, each path in turn, so drift on the machine hits both alike.
bench-embed: $(EMBED_BENCH)
	$(Q)for i in 1 2 3; do $(EMBED_BENCH) $(EMBED_ARGS) || exit 1; done | \
		tee $(BUILD)/bench/embed.jsonl
bench-embed-smoke: $(EMBED_BENCH)
	$(Q)$(EMBED_BENCH) --clients 50 --records 2000

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(BUILD)/src/main.d $(TEST_BIN:=.d)
