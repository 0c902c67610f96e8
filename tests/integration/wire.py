# SPDX-License-Identifier: MIT
# The native protocol's framing (src/PROTOCOL.md) in a few lines of Python, so
# integration tests can speak it byte by byte: a well-behaved client, or one
# that misbehaves on purpose.
import socket
import struct
import time

PREAMBLE = b"\x00RINGSD\x02"
HEADER = struct.Struct(">BBHIQ")

WELCOME, CHALLENGE, ACCEPT, REFUSE = 1, 2, 3, 4
OUTPUT, NOTICE, TYPED, GAP, STATE, PRIVATE, HEARTBEAT_ACK = 16, 17, 18, 19, 20, 21, 22
HELLO, PROOF, INPUT, INTERRUPT, BYE, HEARTBEAT = 32, 33, 34, 35, 36, 37

T_VERSION, T_IDENTITY, T_REASON = 1, 2, 13
TEXT_TAGS = {2, 13, 17, 18, 21}


def record(rtype, payload=b"", seq=0):
    return HEADER.pack(rtype, 0, 0, len(payload), seq) + payload


def tlv(tag, value):
    return struct.pack(">HH", tag, len(value)) + value


def hello(identity=b"TESTBOX\\tester", version=2):
    return record(HELLO, tlv(T_VERSION, struct.pack(">I", version)) + tlv(T_IDENTITY, identity))


def parse_tlv(payload):
    fields, pos = {}, 0
    while pos + 4 <= len(payload):
        tag, n = struct.unpack_from(">HH", payload, pos)
        fields[tag] = payload[pos + 4:pos + 4 + n]
        pos += 4 + n
    return fields


class NativePeer:
    """A native connection driven by hand: bytes out, records in."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=10):
        self.sock = socket.socket()
        if source:
            self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.preamble_seen = False
        self.eof = False
        self.reset = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def next_record(self, timeout=10):
        """(type, seq, payload) of the next record after the server's
        preamble, or None at end of stream or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.preamble_seen:
                at = self.buf.find(PREAMBLE[:7])
                if at >= 0 and len(self.buf) >= at + 8:
                    del self.buf[:at + 8]
                    self.preamble_seen = True
                    continue
            elif len(self.buf) >= HEADER.size:
                rtype, _, _, length, seq = HEADER.unpack_from(self.buf)
                if len(self.buf) >= HEADER.size + length:
                    payload = bytes(self.buf[HEADER.size:HEADER.size + length])
                    del self.buf[:HEADER.size + length]
                    return rtype, seq, payload
            if self.eof or time.monotonic() >= deadline or not self._fill(deadline):
                if self.eof or time.monotonic() >= deadline:
                    return None

    def expect(self, rtype, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.next_record(deadline - time.monotonic())
            if r is None:
                break
            if r[0] == rtype:
                return r
        raise AssertionError("no record of type %d arrived (eof=%s reset=%s)"
                             % (rtype, self.eof, self.reset))

    def join(self, identity=b"TESTBOX\\tester"):
        self.send(PREAMBLE + hello(identity))
        self.expect(WELCOME)
        return self.expect(ACCEPT)

    def refusal(self, timeout=10):
        r = self.expect(REFUSE, timeout)
        return parse_tlv(r[2]).get(T_REASON, b"").decode()

    def close(self):
        self.sock.close()
