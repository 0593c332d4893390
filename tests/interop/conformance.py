#!/usr/bin/python3
"""RFC 6455 conformance of examples/echo-server.

Drives the server with the low-level client protocol of python3-autobahn
(asyncio flavour), case by case through the categories of the Autobahn
fuzzing client, with the same case numbers where a case has a counterpart
there:
  1 framing, 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation,
  6 UTF-8, 7 close handling, 9 limits and performance, 10 fragment sizes,
  12 and 13 permessage-deflate (RFC 7692).
Each case checks what the server must do: the echoed messages and pongs,
in order; the close code the server sends; who started the closing
handshake; and that the server closes the TCP connection afterwards.
The server runs with --deflate: it accepts permessage-deflate when a
case offers it (12, 13) and is plain for the others.

usage: conformance.py ECHO_SERVER_EXE [--only CASE]... [--no-deflate]
(e.g. --only 6.4; --no-deflate: a build without zlib, 12 and 13 left out)
Prints a table and "N passed, M failed"; exits 1 on any failure,
also when python3-autobahn is missing.
"""

import asyncio
import hashlib
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverproc  # noqa: E402

try:
    import txaio
    txaio.use_asyncio()
    txaio.set_global_log_level("error")   # the table says what went wrong
    from autobahn.asyncio.websocket import (WebSocketClientFactory,
                                            WebSocketClientProtocol)
    from autobahn.websocket.protocol import WebSocketProtocol
    from autobahn.websocket.compress import (PerMessageDeflate,
                                             PerMessageDeflateOffer,
                                             PerMessageDeflateResponse,
                                             PerMessageDeflateResponseAccept)
except ImportError:
    print("python3-autobahn is not installed; skipping")
    sys.exit(1)

KiB, MiB = 1 << 10, 1 << 20
TOTAL_BUDGET = 170.0   # seconds for the whole run
LINGER = 3.0           # how long the server may take to close TCP

# Close codes as reported here; 1005 means a close frame without a code.
NO_CODE = 1005


# ---- Raw frames, for what the protocol class will not send ---------------

def mask_bytes(data, key):
    if not data:
        return b""
    n = len(data)
    return (int.from_bytes(data, "big") ^
            int.from_bytes((key * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")


def raw_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One frame as bytes; length overrides the encoded payload length."""
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 15)])
    bit = 0x80 if mask else 0
    if n < 126:
        head.append(bit | n)
    elif n < 65536:
        head.append(bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", n)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + mask_bytes(payload, key)


# ---- The client side of one case -----------------------------------------

class Probe(WebSocketClientProtocol):
    """Records everything the server sends."""

    def __init__(self):
        super().__init__()
        self.held = None   # a list while the client's own output is held back
        self.events = []
        self.close_frame = None
        self.changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.opened = loop.create_future()
        self.lost = loop.create_future()

    def _note(self):
        self.changed.set()

    def sendData(self, data, sync=False, chopsize=None):
        if self.held is not None:
            self.held.append(data)
        else:
            super().sendData(data, sync, chopsize)

    def onOpen(self):
        if not self.opened.done():
            self.opened.set_result(True)

    def onMessage(self, payload, isBinary):
        self.events.append(("binary" if isBinary else "text", payload))
        self._note()

    def onPong(self, payload):
        self.events.append(("pong", payload))
        self._note()

    def onCloseFrame(self, code, reasonRaw):
        if self.close_frame is None:
            self.close_frame = (NO_CODE if code is None else code, reasonRaw)
        self._note()
        return super().onCloseFrame(code, reasonRaw)

    def onClose(self, wasClean, code, reason):
        if not self.opened.done():
            self.opened.set_result(False)
        if not self.lost.done():
            self.lost.set_result(time.monotonic())
        self._note()


class Session:
    """What a case script uses to talk to the server."""

    def __init__(self, proto):
        self.p = proto
        self.problems = []

    @property
    def open(self):
        return self.p.state == WebSocketProtocol.STATE_OPEN

    def _alive(self):
        return self.p.transport is not None and \
            self.p.state != WebSocketProtocol.STATE_CLOSED

    def frame(self, opcode, payload=b"", fin=True, rsv=0):
        if self._alive():
            self.p.sendFrame(opcode=opcode, payload=payload, fin=fin, rsv=rsv)

    async def chopped_frame(self, opcode, payload, fin=True, rsv=0, chop=1):
        """Send one frame in TCP writes of chop bytes, yielding to the event
        loop after each so that they leave one by one."""
        if not self._alive():
            return
        self.hold()
        self.p.sendFrame(opcode=opcode, payload=payload, fin=fin, rsv=rsv)
        data, self.p.held[:] = b"".join(self.p.held), []
        try:
            for i in range(0, len(data), chop):
                if not self._alive():
                    break
                self.p.transport.write(data[i:i + chop])
                await asyncio.sleep(0)
        finally:
            self.release()   # replies the protocol made meanwhile

    def message(self, payload, binary=False, fragment=None):
        if self.open:
            self.p.sendMessage(payload, isBinary=binary, fragmentSize=fragment)

    def raw(self, data):
        if self._alive():
            self.p.sendData(data)

    def hold(self):
        """Hold back the protocol's own frames (say, its reply to the
        server's close) so that they cannot cut into a raw frame."""
        self.p.held = []

    def raw_now(self, data):
        """Write past anything held."""
        if self._alive():
            self.p.transport.write(data)

    def release(self):
        held, self.p.held = self.p.held or [], None
        for data in held:
            self.raw(data)

    def close(self, code=None, reason=None):
        """Start the closing handshake (any code, even an invalid one)."""
        if self.open:
            self.p.sendCloseFrame(code=code, reasonUtf8=reason, isReply=False)

    async def until(self, cond, timeout):
        end = time.monotonic() + timeout
        while not cond() and not self.p.lost.done():
            left = end - time.monotonic()
            if left <= 0:
                return cond()
            self.p.changed.clear()
            try:
                await asyncio.wait_for(self.p.changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return cond()

    async def events(self, n, timeout=5.0):
        return await self.until(lambda: len(self.p.events) >= n, timeout)

    async def server_closed(self, timeout):
        """True when the server's close frame arrived within timeout."""
        return await self.until(lambda: self.p.close_frame is not None,
                                timeout)

    sleep = staticmethod(asyncio.sleep)


# ---- Cases ----------------------------------------------------------------

class Case:
    def __init__(self, cid, desc, run, expect, close, by, timeout, validate,
                 offers, squeeze):
        self.cid, self.desc, self.run = cid, desc, run
        self.expect, self.close, self.by = expect, close, by
        self.timeout, self.validate = timeout, validate
        self.offers, self.squeeze = offers, squeeze


CASES = []


def case(cid, desc, run, expect=(), close=(1000,), by="client", timeout=10.0,
         validate=True, offers=None, squeeze=False):
    """Register a case. by: who must start the closing handshake ("client":
    the case or the runner sends 1000 once the expected events are in;
    "server": the server fails the connection with a code in close).
    validate=False skips the client's UTF-8 check of echoed text (slow on
    big messages; the echo is compared with what was sent anyway).
    offers: permessage-deflate offers, which the server must accept;
    squeeze: what the server sent must have come compressed."""
    if not callable(expect):
        expect = list(expect)
    CASES.append(Case(cid, desc, run, expect, set(close), by, timeout,
                      validate, offers, squeeze))


def text(s):
    return ("text", s.encode() if isinstance(s, str) else s)


def binary(b):
    return ("binary", b)


def pong(b=b""):
    return ("pong", b)


def fail(code):
    return dict(close=(code,), by="server")


def send_message(payload, is_binary=False, fragment=None):
    """payload: bytes, or a function making them (big payloads are made
    when the case runs, not kept around)."""
    async def run(s):
        s.message(payload() if callable(payload) else payload, is_binary,
                  fragment)
    return run


def send_frames(*frames, chop=None, pause=0.0):
    """frames: (opcode, payload, fin[, rsv]) tuples sent in order; a
    payload may be a function making it."""
    async def run(s):
        for i, f in enumerate(frames):
            if pause and i:
                await s.sleep(pause)
            data = f[1]() if callable(f[1]) else f[1]
            rsv = f[3] if len(f) > 3 else 0
            if chop:
                await s.chopped_frame(f[0], data, f[2], rsv, chop)
            else:
                s.frame(f[0], data, f[2], rsv)
    return run


def echo_of(payload, is_binary, times=1):
    kind = "binary" if is_binary else "text"
    if callable(payload):
        return lambda: [(kind, payload())] * times
    return [(kind, payload)] * times


# 1 Framing
def framing_cases():
    sizes = [0, 125, 126, 127, 128, 65535, 65536]
    for sub, (kind, is_binary, fill) in enumerate(
            [("text", False, b"*"), ("binary", True, b"\xfe")], 1):
        for i, n in enumerate(sizes, 1):
            data = fill * n
            case("1.%d.%d" % (sub, i), "%s message, %d bytes" % (kind, n),
                 send_message(data, is_binary), echo_of(data, is_binary))
        data = fill * 65536
        case("1.%d.8" % sub, "%s message, 65536 bytes in 997-byte TCP chunks"
             % kind, send_frames((2 if is_binary else 1, data, True), chop=997),
             echo_of(data, is_binary))

    async def unmasked(s):
        s.raw(raw_frame(1, b"unmasked", mask=False))
    case("1.3.1", "unmasked client frame", unmasked, **fail(1002))

    async def huge_length(s):
        s.raw(raw_frame(2, b"", length=1 << 63) + b"x" * 16)
    case("1.3.2", "64-bit length with the top bit set", huge_length,
         close=(1002, 1009), by="server")


# 2 Pings and pongs
def ping_cases():
    for cid, desc, payload in [
            ("2.1", "ping without payload", b""),
            ("2.2", "ping with a small text payload", b"Hello, world!"),
            ("2.3", "ping with a small binary payload",
             b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"),
            ("2.4", "ping with a 125-byte payload", b"\xfe" * 125)]:
        case(cid, desc, send_frames((9, payload, True)), [pong(payload)])
    case("2.5", "ping with a 126-byte payload", send_frames((9, b"\xfe" * 126,
         True)), **fail(1002))
    case("2.6", "ping with a 125-byte payload in 1-byte TCP chunks",
         send_frames((9, b"\xfe" * 125, True), chop=1), [pong(b"\xfe" * 125)])
    case("2.7", "unsolicited pong without payload", send_frames((10, b"", True)))
    case("2.8", "unsolicited pong with payload",
         send_frames((10, b"unasked pong", True)))
    case("2.9", "unsolicited pong, then ping",
         send_frames((10, b"unasked pong", True),
                     (9, b"ping payload", True)), [pong(b"ping payload")])
    pings = [(9, b"payload-%d" % i, True) for i in range(10)]
    case("2.10", "10 pings", send_frames(*pings),
         [pong(f[1]) for f in pings])
    case("2.11", "10 pings in 1-byte TCP chunks", send_frames(*pings, chop=1),
         [pong(f[1]) for f in pings])


# 3 Reserved bits
def rsv_cases():
    hello = b"Hello, world!"
    case("3.1", "text frame with RSV = 1", send_frames((1, hello, True, 1)),
         **fail(1002))
    for cid, rsv, chop in [("3.2", 2, None), ("3.3", 3, 16), ("3.4", 4, 1)]:
        case(cid, "text, text with RSV = %d, ping%s" %
             (rsv, " (%d-byte TCP chunks)" % chop if chop else ""),
             send_frames((1, hello, True), (1, hello, True, rsv),
                         (9, b"", True), chop=chop),
             [text(hello)], **fail(1002))
    case("3.5", "binary frame with RSV = 5",
         send_frames((2, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", True, 5)),
         **fail(1002))
    case("3.6", "ping with RSV = 6", send_frames((9, hello, True, 6)),
         **fail(1002))
    case("3.7", "close with RSV = 7",
         send_frames((8, struct.pack("!H", 1000), True, 7)), **fail(1002))


# 4 Opcodes
def opcode_cases():
    for group, opcodes in [(1, [3, 4, 5, 6, 7]), (2, [11, 12, 13, 14, 15])]:
        for i, op in enumerate(opcodes, 1):
            cid = "4.%d.%d" % (group, i)
            if i == 1:
                case(cid, "reserved opcode %d" % op, send_frames((op, b"", True)),
                     **fail(1002))
            elif i == 2:
                case(cid, "reserved opcode %d with payload" % op,
                     send_frames((op, b"opcode %d" % op, True)),
                     **fail(1002))
            else:
                case(cid, "text, reserved opcode %d, ping" % op,
                     send_frames((1, b"Hello, world!", True),
                                 (op, b"payload" * (i - 3), True), (9, b"", True)),
                     [text(b"Hello, world!")], **fail(1002))


# 5 Fragmentation
def fragmentation_cases():
    f1, f2 = b"fragment1", b"fragment2"
    case("5.1", "ping in 2 fragments", send_frames((9, f1, False), (0, f2, True)),
         **fail(1002))
    case("5.2", "pong in 2 fragments", send_frames((10, f1, False), (0, f2, True)),
         **fail(1002))
    case("5.3", "text in 2 fragments", send_frames((1, f1, False), (0, f2, True)),
         [text(f1 + f2)])
    case("5.4", "text in 2 fragments, 1-byte TCP chunks",
         send_frames((1, f1, False), (0, f2, True), chop=1), [text(f1 + f2)])
    case("5.5", "text in 2 fragments, a pause between them",
         send_frames((1, f1, False), (0, f2, True), pause=0.1), [text(f1 + f2)])
    ping = (9, b"ping payload", True)
    for cid, chop, pause in [("5.6", None, 0), ("5.7", 1, 0), ("5.8", None, 0.1)]:
        case(cid, "text in 2 fragments with a ping between%s" %
             (", 1-byte TCP chunks" if chop else ", pauses" if pause else ""),
             send_frames((1, f1, False), ping, (0, f2, True), chop=chop,
                         pause=pause),
             [pong(b"ping payload"), text(f1 + f2)])
    for cid, fin, extra in [("5.9", True, None), ("5.10", True, 1),
                            ("5.11", True, 0.1), ("5.12", False, None),
                            ("5.13", False, 1), ("5.14", False, 0.1)]:
        chop = extra if isinstance(extra, int) else None
        pause = extra if isinstance(extra, float) else 0
        case(cid, "continuation (FIN=%d) with nothing to continue, then text"
             % fin + (", 1-byte TCP chunks" if chop else "") +
             (", pauses" if pause else ""),
             send_frames((0, b"stray continuation", fin),
                         (1, b"Hello, world!", True), (9, b"", True),
                         chop=chop, pause=pause), **fail(1002))
    case("5.15", "text in 2 fragments, then a continuation starting a message",
         send_frames((1, f1, False), (0, f2, True), (0, b"fragment3", False),
                     (1, b"fragment4", True)), [text(f1 + f2)], **fail(1002))
    case("5.16", "continuation, text, continuation (x2)",
         send_frames(*[(0, f1, False), (1, f2, False),
                       (0, b"fragment3", True)] * 2),
         **fail(1002))
    case("5.17", "final continuation, text, continuation (x2)",
         send_frames(*[(0, f1, True), (1, f2, False),
                       (0, b"fragment3", True)] * 2),
         **fail(1002))
    case("5.18", "text fragment followed by a new text frame",
         send_frames((1, f1, False), (1, f2, True)), **fail(1002))
    frags = [b"fragment%d" % i for i in range(1, 6)]
    seq = [(1, frags[0], False), (0, frags[1], False), (9, b"ping one", True),
           (0, frags[2], False), (0, frags[3], False), (9, b"ping two", True),
           (0, frags[4], True)]
    want = [pong(b"ping one"), pong(b"ping two"), text(b"".join(frags))]
    case("5.19", "text in 5 fragments, pings between, pauses",
         send_frames(*seq, pause=0.05), want)
    case("5.20", "text in 5 fragments, pings between, 1-byte TCP chunks",
         send_frames(*seq, chop=1), want)
    data = os.urandom(3000)
    case("5.21", "binary in 3 fragments",
         send_frames((2, data[:1000], False), (0, data[1000:2000], False),
                     (0, data[2000:], True)), [binary(data)])
    case("5.22", "binary in 3 fragments with a ping between",
         send_frames((2, data[:1000], False), (9, b"x", True),
                     (0, data[1000:2000], False), (0, data[2000:], True)),
         [pong(b"x"), binary(data)])
    case("5.23", "close in 2 fragments",
         send_frames((8, struct.pack("!H", 1000), False), (0, b"", True)),
         **fail(1002))
    case("5.24", "binary fragment, then a text frame",
         send_frames((2, f1, False), (1, f2, True)), **fail(1002))


# 6 UTF-8
HELLO_UTF8 = "Grüße, µ-Welt: àéîõü ß ½!".encode()
KOSME = "κόσμε".encode()
INVALID = KOSME + b"\xed\xa0\x80" + b" tail"   # a UTF-16 surrogate inside

VALID_TEXTS = [
    "Γειά σου κόσμε", "こんにちは、世界", "你好，世界", "Привет, мир",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก",
    "안녕하세요 세계", "Grüße aus Köln – „Ümlaute“ ½ € ™",
    "😀 🚀 🌍 𝄞 𐍈 🇩🇪", "a\u0301 e\u0300 n\u0303 (combining marks)",
]


def utf8_groups():
    """(case group, description, [payloads], valid)."""
    incomplete = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
                  b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
                  b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    return [
        (7, "first code point of each length",
         [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"], True),
        (8, "first 5- and 6-byte sequences",
         [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"], False),
        (9, "last code point of each length",
         [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf"], True),
        (10, "beyond U+10FFFF",
         [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf",
          b"\xfd\xbf\xbf\xbf\xbf\xbf"], False),
        (11, "boundary code points",
         [b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd",
          b"\xf4\x8f\xbf\xbf"], True),
        (12, "unexpected continuation bytes",
         [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
          b"\x80\xbf\x80\xbf\x80", b"\x80\xbf\x80\xbf\x80\xbf",
          bytes(range(0x80, 0xc0))], False),
        (13, "lonely start bytes",
         [b"".join(bytes([c]) + b" " for c in rng)
          for rng in (range(0xc0, 0xe0), range(0xe0, 0xf0), range(0xf0, 0xf8),
                      range(0xf8, 0xfc), range(0xfc, 0xfe))], False),
        (14, "last continuation byte missing", incomplete, False),
        (15, "incomplete sequences concatenated", [b"".join(incomplete)], False),
        (16, "impossible bytes", [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"], False),
        (17, "overlong '/'",
         [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
          b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf"], False),
        (18, "maximal overlong sequences",
         [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
          b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf"], False),
        (19, "overlong NUL",
         [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
          b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80"], False),
        (20, "single UTF-16 surrogates",
         [b"\xed" + bytes(t) for t in ((0xa0, 0x80), (0xad, 0xbf), (0xae, 0x80),
                                       (0xaf, 0xbf), (0xb0, 0x80), (0xbe, 0x80),
                                       (0xbf, 0xbf))], False),
        (21, "paired UTF-16 surrogates",
         [b"\xed" + bytes([hi1, hi2]) + b"\xed" + bytes([lo1, lo2])
          for hi1, hi2 in ((0xa0, 0x80), (0xaf, 0xbf))
          for lo1, lo2 in ((0xb0, 0x80), (0xbf, 0xbf))] +
         [b"\xed\xad\xbf\xed\xb0\x80", b"\xed\xad\xbf\xed\xbf\xbf",
          b"\xed\xae\x80\xed\xb0\x80", b"\xed\xae\x80\xed\xbf\xbf"], False),
        (22, "noncharacters (valid in UTF-8)",
         [chr(p * 0x10000 + last).encode() for p in range(17)
          for last in (0xfffe, 0xffff)] +
         ["".join(chr(c) for c in range(0xfdd0, 0xfdf0)).encode()], True),
        (23, "BOM, replacement character and specials",
         [b"\xef\xbb\xbf", b"\xef\xbf\xb9", b"\xef\xbf\xba", b"\xef\xbf\xbb",
          b"\xef\xbf\xbc", b"\xef\xbf\xbd", b"\xef\xbf\xbe" + b"ok"], True),
    ]


def utf8_cases():
    case("6.1.1", "empty text", send_message(b""), [text(b"")])
    case("6.1.2", "text in 3 empty fragments",
         send_frames((1, b"", False), (0, b"", False), (0, b"", True)), [text(b"")])
    case("6.1.3", "text: empty, non-empty, empty fragments",
         send_frames((1, b"", False), (0, b"middle", False), (0, b"", True)),
         [text(b"middle")])
    pieces = [c.encode() for c in HELLO_UTF8.decode()]
    case("6.2.1", "valid UTF-8 in one frame", send_message(HELLO_UTF8),
         [text(HELLO_UTF8)])
    case("6.2.2", "valid UTF-8, one fragment per code point",
         send_frames(*[(1 if i == 0 else 0, p, i == len(pieces) - 1)
                       for i, p in enumerate(pieces)]), [text(HELLO_UTF8)])
    case("6.2.3", "valid UTF-8 in 1-byte TCP chunks",
         send_frames((1, HELLO_UTF8, True), chop=1), [text(HELLO_UTF8)])
    case("6.2.4", "valid UTF-8 in 1-byte fragments (code points split)",
         send_message(KOSME * 3, fragment=1), [text(KOSME * 3)])
    case("6.3.1", "invalid UTF-8 in one frame", send_message(INVALID),
         **fail(1007))
    case("6.3.2", "invalid UTF-8 in 1-byte fragments",
         send_message(INVALID, fragment=1), **fail(1007))
    case("6.3.3", "invalid UTF-8 in 1-byte TCP chunks",
         send_frames((1, INVALID, True), chop=1), **fail(1007))

    # Fail fast: the server must close with 1007 as soon as the invalid
    # sequence arrives, before the rest of the message is sent.
    def fail_fast(parts, split_frames):
        async def run(s):
            if split_frames:
                s.frame(1, parts[0], fin=False)
                await s.sleep(0.1)
                s.frame(0, parts[1], fin=False)
            else:
                # One frame in three TCP writes; the client's close reply
                # waits until the frame is complete.
                whole = raw_frame(1, b"".join(parts))
                cut = len(whole) - len(parts[1]) - len(parts[2])
                s.hold()
                s.raw_now(whole[:cut])
                await s.sleep(0.1)
                s.raw_now(whole[cut:cut + len(parts[1])])
                rest = whole[cut + len(parts[1]):]
            if not await s.server_closed(1.0):
                s.problems.append("not closed before the rest of the message")
            if split_frames:
                s.frame(0, parts[2], fin=True)
            else:
                s.raw_now(rest)
                s.release()
        return run
    split_in_char = [KOSME, b"\xf4\x90\x80\x80", b" tail"]
    split_at_bad = [KOSME + b"\xf4", b"\x90\x80\x80", b" tail"]
    case("6.4.1", "fail fast: invalid code point in the 2nd of 3 fragments",
         fail_fast(split_in_char, True), **fail(1007))
    case("6.4.2", "fail fast: invalid byte starts the 2nd of 3 fragments",
         fail_fast(split_at_bad, True), **fail(1007))
    case("6.4.3", "fail fast: invalid code point in the 2nd TCP chunk",
         fail_fast(split_in_char, False), **fail(1007))
    case("6.4.4", "fail fast: invalid byte starts the 2nd TCP chunk",
         fail_fast(split_at_bad, False), **fail(1007))

    for i, t in enumerate(VALID_TEXTS, 1):
        b = t.encode()
        case("6.5.%d" % (2 * i - 1), "valid text: %s" % t, send_message(b),
             [text(b)])
        case("6.5.%d" % (2 * i), "valid text in 3-byte fragments: %s" % t,
             send_message(b, fragment=3), [text(b)])
    for k in range(1, len(KOSME) + 1):
        prefix = KOSME[:k]
        try:
            prefix.decode()
            ok = True
        except UnicodeDecodeError:
            ok = False
        case("6.6.%d" % k, "prefix of 'κόσμε', %d bytes (%s)" %
             (k, "valid" if ok else "invalid"), send_message(prefix),
             *(([text(prefix)],) if ok else ()), **({} if ok else fail(1007)))
    for group, desc, payloads, ok in utf8_groups():
        for i, p in enumerate(payloads, 1):
            case("6.%d.%d" % (group, i), "%s: %s" % (desc, p.hex(" ")
                 if len(p) <= 12 else "%d bytes" % len(p)), send_message(p),
                 *(([text(p)],) if ok else ()), **({} if ok else fail(1007)))


# 7 Close handling
REASON_BAD = b"bye " + b"\xed\xa0\x80"


def close_cases():
    hello = b"Hello World!"

    def script(*steps):
        async def run(s):
            for st in steps:
                if st[0] == "close":
                    s.close(*st[1:])
                elif st[0] == "msg":
                    s.message(st[1])
                else:
                    s.frame(*st)
        return run
    close_1000 = ("close", 1000)
    case("7.1.1", "text, then close", script(("msg", hello), close_1000),
         [text(hello)])
    case("7.1.2", "close twice", script(close_1000,
         (8, struct.pack("!H", 1000), True)))
    case("7.1.3", "close, then ping: no pong",
         script(close_1000, (9, b"ping", True)))
    case("7.1.4", "close, then text: no echo", script(close_1000, (1, hello, True)))
    case("7.1.5", "fragment, close, final fragment: no echo",
         script((1, b"fragment1", False), close_1000, (0, b"fragment2", True)))
    big = b"*" * (256 * KiB)
    case("7.1.6", "256 KiB text, close, ping",
         script(("msg", big), close_1000, (9, b"ping", True)), [text(big)])
    case("7.3.1", "close without payload", script(("close",)),
         close=(NO_CODE, 1000))
    case("7.3.2", "close with a 1-byte payload", script(("close", None, b"\x03")),
         close=(1002,))
    case("7.3.3", "close 1000 without reason", script(close_1000))
    case("7.3.4", "close 1000 with reason", script(("close", 1000, b"Hello")))
    case("7.3.5", "close 1000 with a 123-byte reason",
         script(("close", 1000, b"*" * 123)))
    case("7.3.6", "close 1000 with a 124-byte reason (payload > 125)",
         script(("close", 1000, b"*" * 124)), close=(1002,))
    case("7.5.1", "close reason not valid UTF-8",
         script(("close", 1000, REASON_BAD)), close=(1007,))
    valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999,
             4000, 4999]
    for i, code in enumerate(valid, 1):
        case("7.7.%d" % i, "close %d is echoed" % code,
             script(("close", code, b"reason %d" % code)), close=(code,))
    invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999]
    for i, code in enumerate(invalid, 1):
        case("7.9.%d" % i, "invalid close code %d" % code,
             script(("close", code)), close=(1002,))
    for i, code in enumerate([5000, 65535], 1):
        case("7.13.%d" % i, "invalid close code %d" % code,
             script(("close", code)), close=(1002,))


# 9 Limits and performance
BINARY_UNIT = random.Random(6455).randbytes(4096)
TEXT_UNIT = ("*0123456789abcdef" * 200 + "κόσμε ☃ 😀").encode()


def pattern(n, is_binary):
    unit = BINARY_UNIT if is_binary else TEXT_UNIT
    data = unit * (n // len(unit) + 1)
    cut = n
    while not is_binary and cut > 0 and (data[cut] & 0xc0) == 0x80:
        cut -= 1    # do not cut a character in two
    return data[:cut] + b"*" * (n - cut)


def lazy(n, is_binary):
    return lambda: pattern(n, is_binary)


def limit_cases():
    sizes = [64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB]
    for group, is_binary in [(1, False), (2, True)]:
        kind = "binary" if is_binary else "text"
        for i, n in enumerate(sizes, 1):
            data = lazy(n, is_binary)
            case("9.%d.%d" % (group, i), "%s message of %d KiB" % (kind, n // KiB),
                 send_message(data, is_binary), echo_of(data, is_binary),
                 timeout=30, validate=False)
    frag_sizes = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB,
                  4 * MiB]
    for group, is_binary in [(3, False), (4, True)]:
        kind = "binary" if is_binary else "text"
        data = lazy(4 * MiB, is_binary)
        for i, f in enumerate(frag_sizes, 1):
            case("9.%d.%d" % (group, i), "4 MiB %s in %d-byte fragments" %
                 (kind, f), send_message(data, is_binary, f),
                 echo_of(data, is_binary), timeout=30, validate=False)
        data16 = lazy(16 * MiB, is_binary)
        case("9.%d.10" % group, "16 MiB %s in 64 KiB fragments" % kind,
             send_message(data16, is_binary, 64 * KiB),
             echo_of(data16, is_binary), timeout=30, validate=False)
    for group, is_binary in [(5, False), (6, True)]:
        kind = "binary" if is_binary else "text"
        data = lazy(MiB, is_binary)
        for i, chop in enumerate([64, 128, 256, 512, 1024, 2048], 1):
            case("9.%d.%d" % (group, i), "1 MiB %s in %d-byte TCP chunks" %
                 (kind, chop),
                 send_frames((2 if is_binary else 1, data, True), chop=chop),
                 echo_of(data, is_binary), timeout=30, validate=False)
    for group, is_binary in [(7, False), (8, True)]:
        kind = "binary" if is_binary else "text"
        for i, n in enumerate([0, 16, 64, 256, 1024, 4096], 1):
            data = pattern(n, is_binary)

            def roundtrips(s, data=data, is_binary=is_binary):
                return lockstep(s, data, is_binary, 1000)
            case("9.%d.%d" % (group, i), "1000 %s round trips of %d bytes" %
                 (kind, n), roundtrips, echo_of(data, is_binary, 1000),
                 timeout=30, validate=False)
    case("9.9.1", "text one byte over the 16 MiB limit",
         send_message(lazy(16 * MiB + 1, False)), **fail(1009))
    case("9.9.2", "binary over the limit in 1 MiB fragments",
         send_message(lazy(17 * MiB, True), True, MiB), **fail(1009))


async def lockstep(s, payload, is_binary, count):
    for i in range(count):
        s.message(payload, is_binary)
        if not await s.events(i + 1):
            return


# 10 Fragment sizes
def autofrag_cases():
    data = lazy(64 * KiB, False)
    for i, f in enumerate([1, 16, 64, 256, 1024, 1300, 4096], 1):
        case("10.1.%d" % i, "64 KiB text in %d-byte fragments" % f,
             send_message(data, False, f), echo_of(data, False), timeout=30,
             validate=False)


# 12 and 13 Compression (permessage-deflate)
# Autobahn's payloads are files (JSON, a bitmap, German prose, HTML, a
# PDF); these stand in for them: the same kinds of redundancy, made here.
def compression_payloads():
    rnd = random.Random(7692)
    words = ("und der die das ist nicht ein zu sich mit auf dem den "
             "Faust Mephistopheles Gretchen Wagner Geist Welt").split()
    prose = " ".join(rnd.choice(words) for _ in range(60000)).encode()
    js = b",".join(b'{"id":%d,"name":"item %d","tags":["a","b"],"v":%d.%02d}'
                   % (i, i % 97, i * 7, i % 100) for i in range(20000))
    html = b"".join(b'<tr><td class="c%d">%d</td><td><a href="/x/%d">'
                    b'link</a></td></tr>\n' % (i % 5, i, i)
                    for i in range(12000))
    bitmap = bytes((0 if (x // 16 + y // 16) % 2 else 255)
                   for y in range(512) for x in range(512))
    noise = rnd.randbytes(300000)
    # (kind, is_binary, bytes, compressible)
    return [("JSON text", False, js, True),
            ("bitmap, binary", True, bitmap, True),
            ("prose text", False, prose, True),
            ("HTML text", False, html, True),
            ("random bytes, binary", True, noise, False)]


COMPRESSION_SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536,
                     131072]


def cut_text(data, start, n):
    """n bytes of data from start, not cutting a UTF-8 character."""
    chunk = (data * (1 + (start + n) // len(data)))[start:start + n]
    while chunk and (chunk[-1] & 0xc0) == 0x80:
        chunk = chunk[:-1]
    if chunk and chunk[-1] >= 0xc0:
        chunk = chunk[:-1]
    return chunk + b"*" * (n - len(chunk))


def compression_messages(data, is_binary, size):
    """The messages of one case: as many as fit in about 512 KiB (from 2
    to 100), each a different slice of data."""
    count = max(2, min(100, (512 * KiB) // size))
    step = 4099
    return [cut_text(data, (i * step) % len(data), size)
            if not is_binary else
            (data * (1 + ((i * step) % len(data) + size) // len(data)))
            [(i * step) % len(data):(i * step) % len(data) + size]
            for i in range(count)]


async def pipelined(s, msgs, is_binary, fragment):
    for m in msgs:
        s.message(m, is_binary, fragment)


def deflate_offer(no_context_takeover, max_window_bits):
    """What Autobahn's case 13 offers: the client accepts any
    no_context_takeover and window size the server asks of it, and asks
    the server for these."""
    return PerMessageDeflateOffer(accept_no_context_takeover=True,
                                  accept_max_window_bits=True,
                                  request_no_context_takeover=no_context_takeover,
                                  request_max_window_bits=max_window_bits)


def compression_group(prefix, desc, data, is_binary, offers, squeeze):
    """One group of 18 cases as Autobahn numbers them: the 10 sizes
    whole, then 8 sizes (256 up) in 256-byte fragments of the compressed
    message."""
    fragmented = [(n, 256) for n in COMPRESSION_SIZES[2:]]
    plan = [(n, None) for n in COMPRESSION_SIZES] + fragmented
    for i, (size, frag) in enumerate(plan, 1):
        msgs = compression_messages(data, is_binary, size)
        kind = "binary" if is_binary else "text"
        case("%s.%d" % (prefix, i), "%s: %d %d-byte %s messages%s" % (
             desc, len(msgs), size, kind,
             " in %d-byte fragments" % frag if frag else ""),
             lambda s, m=msgs, b=is_binary, f=frag: pipelined(s, m, b, f),
             [(kind, m) for m in msgs], timeout=30, offers=offers,
             squeeze=squeeze and size >= 256)


def compression_cases():
    payloads = compression_payloads()
    default = [deflate_offer(False, 0)]
    for g, (kind, is_binary, data, squeeze) in enumerate(payloads, 1):
        compression_group("12.%d" % g, kind, data, is_binary, default,
                          squeeze)
    params = [[(False, 0)], [(True, 0)], [(False, 9)], [(False, 15)],
              [(True, 9)], [(True, 15)], [(True, 9), (True, 0), (False, 0)]]
    js = payloads[0][2]
    for g, plist in enumerate(params, 1):
        desc = "offers %s" % ", ".join(
            "(%s, %d)" % (nct, bits) for nct, bits in plist)
        compression_group("13.%d" % g, desc, js, False,
                          [deflate_offer(*p) for p in plist], True)


# ---- Runner ---------------------------------------------------------------

def show(ev):
    kind, data = ev
    if len(data) <= 24:
        return "%s %r" % (kind, data)
    return "%s %d bytes sha1:%s" % (kind, len(data),
                                    hashlib.sha1(data).hexdigest()[:10])


def compare(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return "event %d: got %s, want %s" % (i + 1, show(g), show(w))
    if len(got) > len(want):
        return "unexpected %s" % show(got[len(want)])
    if len(got) < len(want):
        return "missing %s (%d of %d events)" % (show(want[len(got)]),
                                                 len(got), len(want))
    return None


async def run_case(c, port):
    loop = asyncio.get_running_loop()
    factory = WebSocketClientFactory("ws://127.0.0.1:%d/echo" % port, loop=loop)
    factory.protocol = Probe
    factory.setProtocolOptions(openHandshakeTimeout=5, closeHandshakeTimeout=LINGER,
                               serverConnectionDropTimeout=LINGER,
                               failByDrop=True,
                               utf8validateIncoming=c.validate)
    if c.offers:
        def accept(response):
            if isinstance(response, PerMessageDeflateResponse):
                return PerMessageDeflateResponseAccept(response)
            return None
        factory.setProtocolOptions(perMessageCompressionOffers=c.offers,
                                   perMessageCompressionAccept=accept)
    expect = c.expect() if callable(c.expect) else c.expect
    _, proto = await loop.create_connection(factory, "127.0.0.1", port)
    s = Session(proto)
    try:
        if not await asyncio.wait_for(proto.opened, 5):
            return ["opening handshake failed"]
        pmce = proto._perMessageCompress
        if c.offers and not isinstance(pmce, PerMessageDeflate):
            s.problems.append("permessage-deflate not accepted")
        if not c.offers and pmce is not None:
            s.problems.append("an extension in use that was not offered")
        if c.offers and pmce is not None:
            # The server takes the first offer, which it can always meet.
            first = c.offers[0]
            asked = first.request_max_window_bits
            if asked and pmce.server_max_window_bits > asked:
                s.problems.append("server window %d over the %d asked" % (
                    pmce.server_max_window_bits, asked))
            if first.request_no_context_takeover and \
                    not pmce.server_no_context_takeover:
                s.problems.append("server_no_context_takeover not agreed")
        await asyncio.wait_for(c.run(s), c.timeout)
        if c.by == "client":
            await s.events(len(expect), c.timeout)
            s.close(1000)
        else:
            await s.server_closed(c.timeout)
        # The server must close the TCP connection after the handshake.
        await s.until(lambda: proto.lost.done(), LINGER + 1)
    finally:
        if not proto.lost.done() and proto.transport is not None:
            proto.transport.abort()

    problems = list(s.problems)
    ts = proto.trafficStats
    if c.squeeze and ts is not None and \
            ts.incomingOctetsWebSocketLevel * 2 > ts.incomingOctetsAppLevel:
        problems.append("echoes not compressed: %d bytes for %d" % (
            ts.incomingOctetsWebSocketLevel, ts.incomingOctetsAppLevel))
    diff = compare(proto.events, expect)
    if diff:
        problems.append(diff)
    if proto.close_frame is None:
        problems.append("no close frame from the server")
    elif proto.close_frame[0] not in c.close:
        problems.append("server sent close %d, want %s" % (
            proto.close_frame[0], "/".join(str(x) for x in sorted(c.close))))
    elif c.by == "server" and proto.closedByMe:
        problems.append("server did not start the closing handshake")
    elif c.by == "client" and not proto.closedByMe:
        problems.append("server closed first (code %d)" % proto.close_frame[0])
    if proto.failedByMe:
        problems.append("the client found a protocol error in the server's frames")
    if not proto.lost.done():
        problems.append("server did not close the TCP connection")
    elif proto.droppedByMe:
        problems.append("server did not close the TCP connection in %gs" % LINGER)
    return problems


async def run_all(proc, port, only):
    passed = failed = skipped = 0
    start = time.monotonic()
    stop = None   # why the remaining cases are not run
    print("%-8s %-6s %7s  %s" % ("case", "result", "ms", "description"))
    for c in CASES:
        if only and not any(c.cid == o or c.cid.startswith(o + ".")
                            for o in only):
            continue
        t0 = time.monotonic()
        if stop is None and t0 - start > TOTAL_BUDGET:
            stop = "the time budget of %gs is used up" % TOTAL_BUDGET
        if stop is not None:
            skipped += 1
            continue
        try:
            problems = await run_case(c, port)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            problems = ["%s: %s" % (type(e).__name__, e)]
        if proc.poll() is not None:
            stop = "echo-server died (status %d) in case %s" % (
                proc.returncode, c.cid)
            problems.append(stop)
        ms = (time.monotonic() - t0) * 1000
        passed += not problems
        failed += bool(problems)
        print("%-8s %-6s %7.0f  %s" % (c.cid, "FAIL" if problems else "ok", ms,
                                       c.desc), flush=True)
        for p in problems:
            print("%25s- %s" % ("", p), flush=True)
    if skipped:
        print("%d cases not run: %s" % (skipped, stop))
    return passed, failed + skipped


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    only = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--only"]
    args = [a for a in args if a not in only]
    deflate = "--no-deflate" not in argv
    if len(args) != 1:
        print(__doc__.strip())
        return 2
    for group in (framing_cases, ping_cases, rsv_cases, opcode_cases,
                  fragmentation_cases, utf8_cases, close_cases, limit_cases,
                  autofrag_cases) + ((compression_cases,) if deflate else ()):
        group()
    proc, port = serverproc.start(args[0],
                                  args=["--deflate"] if deflate else [])
    try:
        passed, failed = asyncio.run(run_all(proc, port, only))
    finally:
        status = serverproc.stop(proc)
    if status != 0:
        failed += 1
        print("FAIL     echo-server exit status %r after SIGTERM" % status)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
