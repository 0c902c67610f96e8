# SPDX-License-Identifier: MIT
# A session served from a Python loop through ctypes and libringside.so alone: proof that a
# higher-level tool can embed the library.  It serves tcp:port=PORT without a pty, says
# "py tick N" every 100 ms from its own poll loop, answers each command with "py answer: LINE",
# prints who typed what on stdout, and ends with status 3 when a client types "stop".
#
#   python3 embed_ctypes.py LIBRINGSIDE.so PORT
import ctypes
import errno
import select
import sys
import time

lib = ctypes.CDLL(sys.argv[1])
port = int(sys.argv[2])


class Client(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint), ("identity", ctypes.c_char_p),
                ("transport", ctypes.c_char_p), ("readonly", ctypes.c_int),
                ("native", ctypes.c_int)]


WHO = ctypes.POINTER(Client)
COMMAND = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, WHO, ctypes.POINTER(ctypes.c_char),
                           ctypes.c_size_t)
INTERRUPT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, WHO)
EVENT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, WHO)
TYPED = COMMAND
LOG = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)


class Callbacks(ctypes.Structure):
    _fields_ = [("command", COMMAND), ("interrupt", INTERRUPT), ("joined", EVENT),
                ("left", EVENT), ("typed", ctypes.CFUNCTYPE(None, ctypes.c_void_p, WHO,
                                                           ctypes.POINTER(ctypes.c_char),
                                                           ctypes.c_size_t)),
                ("log", LOG)]


class Params(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint), ("ring_bytes", ctypes.c_size_t),
                ("history_bytes", ctypes.c_size_t), ("history_lines", ctypes.c_uint),
                ("lag_bytes", ctypes.c_size_t), ("max_clients", ctypes.c_uint),
                ("max_auth", ctypes.c_uint), ("line_max", ctypes.c_uint),
                ("peer_timeout_s", ctypes.c_uint), ("flush_ms", ctypes.c_uint),
                ("notice_ms", ctypes.c_uint), ("program", ctypes.c_char_p),
                ("reserved", ctypes.c_uint64 * 8)]


lib.ringside_version.restype = ctypes.c_char_p
lib.ringside_new.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Params),
                             ctypes.POINTER(Callbacks), ctypes.c_void_p, ctypes.c_char_p,
                             ctypes.c_size_t]
lib.ringside_server_start.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_uint), ctypes.c_char_p,
                                      ctypes.c_size_t]
lib.ringside_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
lib.ringside_write.restype = ctypes.c_ssize_t
lib.ringside_end.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.ringside_fd.argtypes = [ctypes.c_void_p]
lib.ringside_run_once.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.ringside_run.argtypes = [ctypes.c_void_p]
lib.ringside_destroy.argtypes = [ctypes.c_void_p]
lib.ringside_params_init.argtypes = [ctypes.POINTER(Params)]

session = ctypes.c_void_p()


def say(text):
    data = text.encode()
    n = lib.ringside_write(session, data, len(data))
    return n == len(data) or n == -errno.EAGAIN


def on_command(arg, who, line, length):
    text = ctypes.string_at(line, length).decode("utf-8", "replace")
    print("typed: %s: %s" % (who.contents.identity.decode(), text), flush=True)
    if text == "stop":
        lib.ringside_end(session, 3)
    else:
        say("py answer: %s\r\n" % text)
    return 0


def on_joined(arg, who):
    print("joined: %s over %s" % (who.contents.identity.decode(),
                                  who.contents.transport.decode()), flush=True)


def on_log(arg, line):
    print("log: %s" % line.decode(), file=sys.stderr, flush=True)


# The callbacks must outlive the session: keep them referenced here.
callbacks = Callbacks(command=COMMAND(on_command), joined=EVENT(on_joined), log=LOG(on_log))
params = Params()
lib.ringside_params_init(ctypes.byref(params))
params.program = b"embed_ctypes.py"
err = ctypes.create_string_buffer(512)
if lib.ringside_new(ctypes.byref(session), ctypes.byref(params), ctypes.byref(callbacks), None,
                    err, len(err)) < 0:
    sys.exit("embed_ctypes: %s" % err.value.decode())
if lib.ringside_server_start(session, b"tcp:port=%d" % port, None, err, len(err)) < 0:
    sys.exit("embed_ctypes: %s" % err.value.decode())
print("libringside %s serving port %d" % (lib.ringside_version().decode(), port), flush=True)

poller = select.poll()
poller.register(lib.ringside_fd(session), select.POLLIN)
ticks, next_tick, deadline = 0, time.monotonic(), time.monotonic() + 60
status = 0
while status == 0 and time.monotonic() < deadline:
    wait = max(0, next_tick - time.monotonic())
    poller.poll(wait * 1000)
    if time.monotonic() >= next_tick:
        ticks += 1
        say("py tick %d\r\n" % ticks)
        next_tick += 0.1
    status = lib.ringside_run_once(session, 0)
code = lib.ringside_run(session) if status == 1 else 1
lib.ringside_destroy(session)
print("ended with status %d" % code, flush=True)
sys.exit(code)
