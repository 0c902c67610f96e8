# ringside: one non-recursive makefile.
#   make            build build/ringside and build/libringside.a
#   make deps       install the Debian packages needed to build, test and run (idempotent)
#   make run        deps + build + host `gdb -q` on tcp port 5005 (loopback)
#   make test       deps + build + unit tests + integration tests
#   make fuzz       build the libFuzzer targets (clang) and run each briefly
#   make clean
# V=1 shows full commands; SANITIZE=1 builds with ASan+UBSan.

CC       ?= cc
BUILD    ?= build
PKGS     := liburing wolfssl libserialport
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -D_GNU_SOURCE -I. $(PKG_CFLAGS) -MMD -MP
LDLIBS   += $(PKG_LIBS) -lutil
ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
endif

ifneq ($(V),1)
Q        := @
quiet     = @printf '  %-6s %s\n' $(1) $(2);
endif

LIB_SRC  := $(wildcard ring/*.c tls/*.c serial/*.c) $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libringside.a
BIN      := $(BUILD)/ringside

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

# Debian packages: build, test, run.  bench/bench.mk adds its own.
DEPS_PKGS := build-essential pkg-config liburing-dev libwolfssl-dev libserialport-dev \
             libcmocka-dev gdb socat picocom netcat-openbsd python3 clang libclang-rt-14-dev \
             procps tmux inetutils-telnet nftables iproute2 util-linux

.PHONY: all deps run test unit integration fuzz clean
all: $(BIN) $(HELPER_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call quiet,CC,$<)$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	$(call quiet,AR,$@)rm -f $@ && $(AR) rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(LIB)
	$(call quiet,LD,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: tests/test_%.c $(LIB)
	@mkdir -p $(dir $@)
	$(call quiet,CC,$@)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CMOCKA_LIBS)

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

# IT_ARGS: e.g. --skip-slow, or test names.
integration: all
	$(Q)python3 tests/integration/run.py --bin $(BIN) $(IT_ARGS)

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

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d $(TEST_BIN:=.d)
