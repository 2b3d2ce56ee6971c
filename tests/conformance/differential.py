#!/usr/bin/env python3
"""Differential tests of the legacy dialects: the same bytes to our /echo and to third-party
servers, the answers compared byte for byte after normalising what may legitimately differ.

Dialects: hixie-75, hixie-76 (= hybi-00) and hybi-03 ("draft03"). Reference servers (from
../shared/conformance/servers): em-websocket 0.5.1 (hixie-75, hixie-76, hybi-03) and
websocket-driver 0.8.0 (hixie-75, hixie-76; no hybi-03). Both answer on any path, so every
request names /echo, which is our echo endpoint.

usage: differential.py --server omniws=PORT --server em-websocket=PORT
                       --server websocket-driver=PORT [--case SUBSTRING]... [-v]
                       [--markdown] [--rows]
  -v          every normalised observation under its table row
  --markdown  the table and the explained differences as markdown (DIFFERENTIAL.md)
  --rows      a row skeleton for EXPLAINED_ROWS per unexplained difference

A case is a list of steps: bytes to send, WAIT (read until the server has been quiet for a
moment; the bytes received so far form one segment), SHUT (half-close: the server reads EOF).
After the last step the driver reads until EOF or a quiet period, and notes whether the server
closed the connection. Every read has a timeout and everything is bounded: at most MAX_BYTES
per connection and CASE_DEADLINE seconds per case.

What is normalised before comparing (the rest must be identical, byte for byte):
  * a 101 head: header order and the case of header names; Server and Date headers; the real
    port in `127.0.0.1:PORT` (only in the case whose Host header carries it). The status line,
    every header value and every byte after the head are compared exactly.
  * a refusal (any non-101 status): only the status code is compared. Its reason phrase,
    headers and body text are each implementation's own words.
  * how the connection ended: FIN and RST both count as "closed".
  * when the bytes arrived: only in cases marked `timed` (key3 late) is the stream compared
    per segment, i.e. what had arrived by each WAIT.

A difference is confirmed by running the case again with waits three times longer (so a slow
moment on a busy machine does not count), then looked up in EXPLAINED_ROWS: each row names the
case, the reference server, a key of REASONS (why the two may differ, which side follows the
draft) and the exact difference lines. Exit 1 if a confirmed difference has no row or not the
row's lines, or a server could not be reached; a row whose case is now identical is reported
as stale (exit status unaffected).
"""

import argparse
import concurrent.futures
import dataclasses
import hashlib
import socket
import sys
import time

# --- limits and timing ------------------------------------------------------------------------

QUIET = 0.3  # a server silent this long after our last send has said what it will say
FINAL_QUIET = 0.5  # the same, after the last step: then the connection is "open"
CASE_DEADLINE = 10.0  # no case takes longer than this, whatever a server does
CONNECT_TIMEOUT = 5.0
MAX_BYTES = 1 << 20  # more than any case's answer (the long text is 70 000 bytes)
SLOW = 3  # the confirming rerun waits this many times longer
CASES_AT_ONCE = 10  # each case opens one connection per server at once

OURS = "omniws"
REFERENCES = ("em-websocket", "websocket-driver")


class Wait:
    """Read until the server is quiet; what arrived so far closes one segment."""

    def __repr__(self):
        return "WAIT"


class Shut:
    """shutdown(SHUT_WR): the server reads EOF; we keep reading."""

    def __repr__(self):
        return "SHUT"


WAIT = Wait()
SHUT = Shut()

# --- requests ---------------------------------------------------------------------------------

ORIGIN = "http://example.com"
# docs/protocols.md §8.1 V1 (hixie-75), with the path /echo: the path changes only the Location echo.
H75 = [
    ("Upgrade", "WebSocket"),
    ("Connection", "Upgrade"),
    ("Host", "example.com"),
    ("Origin", ORIGIN),
]
# docs/protocols.md §8.1 V2 (hixie-76), the handshake example of draft-hixie-76 §1.3 (E1 of §3.2):
# same header order, path /echo. The 16-byte answer does not depend on the path.
E1_KEY1 = "4 @1  46546xW%0l 1 5"
E1_KEY2 = "12998 5 Y3 1  .P00"
E1_KEY3 = b"^n:ds[4U"
E1_ANSWER = b"8jKS'y:G*Co,Wxa-"
H76 = [
    ("Host", "example.com"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key2", E1_KEY2),
    ("Upgrade", "WebSocket"),
    ("Sec-WebSocket-Key1", E1_KEY1),
    ("Origin", ORIGIN),
]
# E2-E4 of docs/protocols.md §3.2 (draft §1.3 computation example, draft §5.2 example, faye's test).
E2 = ("18x 6]8vM;54 *(5:  {   U1]8  z [  8", "1_ tx7X d  <  nw  334J702) 7]o}` 0", b"Tm[K T2u")
E3 = ("3e6b263  4 17 80", "17  9 G`ZD9   2 2b 7X 3 /r90", b"WjN}|M(6")
E4 = (
    "1   38 wZ3f9 23O0 3l 0r",
    "27   0E 6 2  1665:< ;U 1H",
    bytes.fromhex("91253ed3a9e76a88"),
)

HOST_PORT = "{HOSTPORT}"  # replaced by 127.0.0.1:<the server's port> when sent


def head(headers, method="GET", target="/echo", version="HTTP/1.1"):
    lines = [f"{method} {target} {version}"] + [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def drop(headers, name):
    return [(n, v) for n, v in headers if n.lower() != name.lower()]


def put(headers, name, value):
    """Replace the value of `name`, or append the header."""
    if any(n.lower() == name.lower() for n, _ in headers):
        return [(n, value if n.lower() == name.lower() else v) for n, v in headers]
    return headers + [(name, value)]


def keys(headers, key1, key2):
    return put(put(headers, "Sec-WebSocket-Key1", key1), "Sec-WebSocket-Key2", key2)


def opening(dialect):
    """The complete valid opening bytes of a dialect (hybi-03: V2 + Sec-WebSocket-Draft: 3)."""
    if dialect == "hixie-75":
        return head(H75)
    if dialect == "hixie-76":
        return head(H76) + E1_KEY3
    return head(H76 + [("Sec-WebSocket-Draft", "3")]) + E1_KEY3


def hybi03(opcode, payload, more=False):
    """A hybi-03 frame: MORE bit, opcode, 7/16/64-bit length, unmasked (docs/protocols.md §4.2)."""
    first = (0x80 if more else 0) | opcode
    n = len(payload)
    if n <= 125:
        length = bytes([n])
    elif n < 1 << 16:
        length = bytes([126]) + n.to_bytes(2, "big")
    else:
        length = bytes([127]) + n.to_bytes(8, "big")
    return bytes([first]) + length + payload


def hixie_length(n):
    """Base-128 length of a hixie length-prefixed frame: high bit = more digits follow."""
    digits = [n & 0x7F]
    n >>= 7
    while n:
        digits.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(digits))


def text(s):
    return b"\x00" + s.encode() + b"\xff"


# 70 000 bytes of UTF-8 with 2-, 3- and 4-byte characters, cut at a character boundary.
LONG = ("long κόσμε € 𝄞 " * 4000).encode()[:70000].decode("utf-8", "ignore")

# --- cases ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    dialect: str
    what: str
    steps: tuple
    servers: tuple = REFERENCES
    timed: bool = False  # compare what had arrived at each WAIT, not only the whole stream


def cases():
    out = []

    def case(name, dialect, what, *steps, servers=REFERENCES, timed=False):
        assert dialect in ("hixie-75", "hixie-76", "hybi-03") and isinstance(what, str), name
        assert steps and isinstance(steps[0], bytes), name
        out.append(Case(name, dialect, what, tuple(steps), servers, timed))

    # Valid handshakes.
    case("75-handshake", "hixie-75", "V1 request, no subprotocol", head(H75))
    case(
        "75-handshake-protocol",
        "hixie-75",
        "V1 with WebSocket-Protocol: sample",
        head(H75 + [("WebSocket-Protocol", "sample")]),
    )
    case("75-handshake-no-origin", "hixie-75", "V1 without Origin", head(drop(H75, "Origin")))
    case(
        "75-handshake-host-port",
        "hixie-75",
        "Host: 127.0.0.1:PORT (normalised in the echo)",
        head(put(H75, "Host", HOST_PORT)),
    )
    case("75-handshake-query", "hixie-75", "target /echo?x=1", head(H75, target="/echo?x=1"))
    case("76-handshake", "hixie-76", "V2 (draft-76 §1.3 example), key3 with the head",
         opening("hixie-76"))
    case(
        "76-handshake-protocol",
        "hixie-76",
        "V2 with Sec-WebSocket-Protocol: sample",
        head(H76[:3] + [("Sec-WebSocket-Protocol", "sample")] + H76[3:]) + E1_KEY3,
    )
    for label, (k1, k2, k3) in (("e2", E2), ("e3", E3), ("e4", E4)):
        case(f"76-handshake-{label}", "hixie-76", f"keys {label.upper()} of docs/protocols.md §3.2",
             head(keys(H76, k1, k2)) + k3)
    case("76-handshake-no-origin", "hixie-76", "V2 without Origin",
         head(drop(H76, "Origin")) + E1_KEY3)
    case("76-key3-crlf", "hixie-76", "key3 of CR LF CR LF CR LF CR LF", head(H76) + b"\r\n" * 4)
    case("76-key3-late", "hixie-76", "head, pause, then key3", head(H76), WAIT, E1_KEY3, WAIT,
         timed=True)
    case("76-key3-split", "hixie-76", "head + 3 key3 bytes, pause, 5 more",
         head(H76) + E1_KEY3[:3], WAIT, E1_KEY3[3:], WAIT, timed=True)
    case("76-key3-short-eof", "hixie-76", "head + 5 key3 bytes, then EOF",
         head(H76) + E1_KEY3[:5], SHUT)
    v2 = head(H76) + E1_KEY3
    case("76-head-in-pieces", "hixie-76", "request in 3 writes with pauses",
         v2[:20], WAIT, v2[20:90], WAIT, v2[90:])
    case("75-upgrade-lowercase", "hixie-75", "Upgrade: websocket (lower case)",
         head(put(H75, "Upgrade", "websocket")))
    case("76-connection-list", "hixie-76", "Connection: keep-alive, Upgrade",
         head(put(H76, "Connection", "keep-alive, Upgrade")) + E1_KEY3)
    case("76-lowercase-names", "hixie-76", "every header name in lower case",
         head([(n.lower(), v) for n, v in H76]) + E1_KEY3)
    case("76-draft0", "hixie-76", "V2 + Sec-WebSocket-Draft: 0 (pywebsocket's hybi-00)",
         head(H76 + [("Sec-WebSocket-Draft", "0")]) + E1_KEY3)
    for d in ("3", "2", "1"):
        case(f"03-handshake-draft{d}", "hybi-03", f"V2 + Sec-WebSocket-Draft: {d}",
             head(H76 + [("Sec-WebSocket-Draft", d)]) + E1_KEY3)

    # Pipelined: frames in the same write as the head (and key3).
    case("75-pipelined", "hixie-75", "head and a text frame in one write",
         head(H75) + text("Hello"))
    case("76-pipelined", "hixie-76", "head, key3 and a text frame in one write",
         opening("hixie-76") + text("Hello"))
    case("76-pipelined-late", "hixie-76", "head; then key3 and a text frame in one write",
         head(H76), WAIT, E1_KEY3 + text("Hello"))

    # Frames, hixie-75 and hixie-76 alike.
    for dialect, p in (("hixie-75", "75"), ("hixie-76", "76")):
        o = opening(dialect)

        def frames(name, what, *steps):
            case(f"{p}-{name}", dialect, what, o, WAIT, *steps)

        frames("text", "text 'Hello' (F1)", text("Hello"))
        frames("text-empty", "empty text 00 FF", b"\x00\xff")
        frames("text-utf8", "text of 2-, 3- and 4-byte characters", text("κόσμε € 𝄞"))
        frames("text-long", "70 000-byte text in one frame", text(LONG))
        frames("text-two", "two text frames in one write", text("one") + text("two"))
        frames("text-split", "one text frame in two writes", b"\x00He", WAIT, b"llo\xff")
        frames("text-eof", "text, then EOF", text("Hello"), SHUT)
        frames("text-ff-inside", "00 'ab' FF 'cd' FF: the FF ends the frame early",
               b"\x00ab\xffcd\xff")
        frames("text-bad-utf8", "text with invalid UTF-8 (C3 28)", b"\x00\xc3\x28\xff")
        frames("text-unterminated-eof", "00 'abc', no FF, then EOF", b"\x00abc", SHUT)
        frames("sentinel-type-01", "frame type 01 (high bit clear, not 00), then text",
               b"\x01x\xff" + text("Hello"))
        frames("binary", "80 05 'hello'", b"\x80\x05hello")
        frames("binary-empty", "80 00", b"\x80\x00")
        frames("binary-300", "80 82 2C + 300 bytes (F3)", b"\x80\x82\x2c" + bytes(300))
        frames("binary-then-text", "80 03 'abc' and a text frame in one write",
               b"\x80\x03abc" + text("Hello"))
        frames("binary-unterminated-eof", "80 05 'ab', then EOF", b"\x80\x05ab", SHUT)
        frames("type-82", "frame type 82 with 3 bytes, then text",
               b"\x82\x03abc" + text("Hello"))
        frames("type-fe-empty", "FE 00 (high bit, length 0, not FF), then text",
               b"\xfe\x00" + text("Hello"))
        frames("type-ff-length-1", "FF 01 'a' (type FF, length 1), then text",
               b"\xff\x01a" + text("Hello"))
        frames("length-overflow", "80 + ten FF length digits + 7F",
               b"\x80" + b"\xff" * 10 + b"\x7f")
        frames("close", "FF 00", b"\xff\x00")
        frames("close-then-text", "FF 00 and a text frame in one write",
               b"\xff\x00" + text("Hello"))
        frames("close-eof", "FF 00, then EOF", b"\xff\x00", SHUT)

    # hybi-03: em-websocket only (websocket-driver has no hybi-03: server.js picks Draft76
    # for any request with Key1/Key2 and ignores Sec-WebSocket-Draft).
    em = ("em-websocket",)
    o = opening("hybi-03")

    def d03(name, what, *steps):
        case(f"03-{name}", "hybi-03", what, o, WAIT, *steps, servers=em)

    d03("text", "04 05 'Hello' (F5)", hybi03(4, b"Hello"))
    d03("text-empty", "04 00", hybi03(4, b""))
    d03("text-200", "200-byte text (16-bit length)", hybi03(4, b"x" * 200))
    d03("text-long", "70 000-byte text (64-bit length)", hybi03(4, LONG.encode()))
    d03("fragmented", "84 03 'Hel' + 00 02 'lo' (F6)",
        hybi03(4, b"Hel", more=True) + hybi03(0, b"lo"))
    d03("binary", "05 03 01 02 03", hybi03(5, b"\x01\x02\x03"))
    d03("ping", "02 05 'Hello'", hybi03(2, b"Hello"))
    d03("ping-126", "ping with a 126-byte payload (16-bit length)", hybi03(2, b"p" * 126))
    d03("ping-between-fragments", "84 03 'Hel', ping, 00 02 'lo'",
        hybi03(4, b"Hel", more=True) + hybi03(2, b"x") + hybi03(0, b"lo"))
    d03("pong", "unsolicited pong 03 02 'hi', then text", hybi03(3, b"hi") + hybi03(4, b"x"))
    d03("close", "01 00", hybi03(1, b""))
    d03("close-body", "01 03 'bye'", hybi03(1, b"bye"))
    d03("text-bad-utf8", "04 03 61 FF 62", hybi03(4, b"a\xffb"))
    d03("opcode-6", "reserved opcode 6", hybi03(6, b""))
    d03("continuation-alone", "00 02 'ab' with no message open", hybi03(0, b"ab"))
    d03("ping-fragmented", "82 00: ping with the MORE bit", hybi03(2, b"", more=True))
    d03("rsv1", "44 05 'Hello': RSV1 set", b"\x44" + hybi03(4, b"Hello")[1:])
    d03("unterminated-eof", "04 05 'He', then EOF", b"\x04\x05He", SHUT)
    case("03-pipelined", "hybi-03", "head, key3 and a text frame in one write",
         o + hybi03(4, b"Hello"), servers=em)

    # Malformed handshakes.
    case("76-missing-key2", "hixie-76", "Key2 removed", head(drop(H76, "Sec-WebSocket-Key2")) +
         E1_KEY3)
    case("76-key-no-spaces", "hixie-76", "Key1 without spaces",
         head(keys(H76, E1_KEY1.replace(" ", ""), E1_KEY2)) + E1_KEY3)
    case("76-key-not-multiple", "hixie-76", "Key1 2785899415 / 4 spaces (remainder 3)",
         head(keys(H76, "2 L785 8o% s9Sy9@V. 4<1P5", E1_KEY2)) + E1_KEY3)
    case("76-key-no-digits", "hixie-76", "Key1 'abc def' (no digits)",
         head(keys(H76, "abc def", E1_KEY2)) + E1_KEY3)
    case("76-key-overflow", "hixie-76", "Key1 4294967296 / 1 (quotient > 2^32-1)",
         head(keys(H76, "4294967296 x", E1_KEY2)) + E1_KEY3)
    case("76-post", "hixie-76", "method POST", head(H76, method="POST") + E1_KEY3)
    case("76-no-upgrade", "hixie-76", "no Upgrade header", head(drop(H76, "Upgrade")) + E1_KEY3)
    case("75-post", "hixie-75", "method POST", head(H75, method="POST"))
    case("75-no-upgrade", "hixie-75", "no Upgrade header", head(drop(H75, "Upgrade")))
    case("75-upgrade-other", "hixie-75", "Upgrade: foo", head(put(H75, "Upgrade", "foo")))
    case("75-no-connection", "hixie-75", "no Connection header",
         head(drop(H75, "Connection")))
    case("75-no-host", "hixie-75", "no Host header", head(drop(H75, "Host")))
    case("75-http10", "hixie-75", "HTTP/1.0 request line", head(H75, version="HTTP/1.0"))
    case("03-draft4", "hybi-03", "V2 + Sec-WebSocket-Draft: 4 (no such draft)",
         head(H76 + [("Sec-WebSocket-Draft", "4")]) + E1_KEY3)
    case("76-key1-repeated", "hixie-76", "Key1 sent twice", head(H76 + [("Sec-WebSocket-Key1",
         E1_KEY1)]) + E1_KEY3)
    return out


# --- explained differences ------------------------------------------------------------------
#
# Why a difference is allowed, one entry per kind; every row of EXPLAINED_ROWS names one.
# "Draft" means draft-hixie-76 (= hybi-00) for hixie framing and handshakes, as docs/protocols.md
# cites it; the verdict says which side follows it. Entries marked QUESTION are where ours
# is stricter than the draft or than the references: kept as explained, and reported.
REASONS = {
    "NO_ORIGIN": (
        "both follow the draft",
        "Without an Origin header em-websocket still sends the origin echo, empty; ours and "
        "websocket-driver leave it out. The echo repeats the client's Origin verbatim "
        "(docs/protocols.md §3.1, §3.2 server response); browsers always send one, and with none "
        "there is nothing to repeat.",
    ),
    "SUBPROTOCOL": (
        "ours follows the draft",
        "A hixie client that offers a subprotocol refuses an answer that does not repeat it "
        "(docs/protocols.md §3.2, 'What the client checks'; §3.1 for hixie-75's "
        "WebSocket-Protocol), so a server that leaves it out cannot open the connection for "
        "that client at all. /echo speaks every subprotocol and repeats the first one "
        "offered, in every dialect. em-websocket repeats it for hixie-76 but not for "
        "hixie-75; websocket-driver repeats it only when the application lists it.",
    ),
    "HEAD_BEFORE_KEY3": (
        "both allowed; ours follows the recommended order",
        "Ours (like websocket-driver) writes the 101 head as soon as the request head is "
        "parsed and the 16-byte answer once key3 is complete; em-websocket writes nothing "
        "until it has all 8 key3 bytes. docs/protocols.md §3.2 'The 8 key3 bytes - framing and "
        "timing': write the head first, because HAProxy withholds key3 until it sees a 101. "
        "With key3 incomplete at EOF nobody sends an answer (§8.1, last negative row: "
        "'headers may be written; no MD5').",
    ),
    "EM_KEY3_SPLIT": (
        "ours follows the draft; em-websocket bug",
        "Head plus 3 key3 bytes, then the other 5: em-websocket closes without a byte. Fed "
        "to its Handshake class directly, the second piece fails with 'Must be GET request' "
        "(its HTTP parser reports another method once fed bytes after a complete request "
        "that already had trailing bytes). docs/protocols.md §3.2 (key3 framing and timing): the "
        "8 bytes may come with the head or later, in pieces, and the server waits for all 8.",
    ),
    "HALF_OPEN": (
        "ours follows the draft; the difference is the kit script's",
        "After our EOF (shutdown of our sending side) ours closes the connection; the kit's "
        "node script leaves its side open: it ends the socket only on the driver's 'close' "
        "event, which websocket-driver does not emit at the end of input (streams.js "
        "IO.end), and Node's HTTP server keeps half-open sockets. For hixie-75 the TCP "
        "close is the whole closing handshake (docs/protocols.md §5); an unterminated frame is "
        "never delivered (§9 item 11), by anyone here.",
    ),
    "EM_DRAFT0": (
        "ours follows docs/protocols.md",
        "Sec-WebSocket-Draft: 0: em-websocket takes it as protocol version 0 and aborts; "
        "ours (and websocket-driver, which ignores the header) answer as hixie-76. "
        "docs/protocols.md §2 rows 8-9 and notes: 0 is what pywebsocket's test client sent for "
        "hybi-00.",
    ),
    "EM_EXTRA_BYTES": (
        "both allowed; ours follows docs/protocols.md",
        "A frame in the same write as the head (hixie-75) or key3 (hixie-76, hybi-03): "
        "em-websocket aborts the handshake ('Extra bytes after header' / 'after third key', "
        "handshake.rb); ours, like websocket-driver, keeps the bytes for the frame decoder "
        "and echoes the frame. docs/protocols.md §2 notes: such bytes are the client's "
        "violation, but 'keep them buffered rather than crash'; ../shared/STYLE.md §C3.2 lists "
        "em-websocket's rejection under Avoid.",
    ),
    "EM_TYPE_NOT_00": (
        "ours follows the draft",
        "A frame whose type byte has the high bit clear but is not 00 (`01 'x' FF`, or the "
        "'c' after an early FF in `00 'ab' FF 'cd' FF`): em-websocket fails the connection "
        "('Invalid frame received', framing76.rb; TCP close, no FF 00). Ours reads to the "
        "FF and discards the frame: docs/protocols.md §4.1 step 3, deliver as text only if the "
        "type is 00, otherwise discard.",
    ),
    "DRIVER_TYPE_NOT_00": (
        "ours follows the draft",
        "websocket-driver delivers every frame whose type byte has the high bit clear as "
        "text, whatever the type (draft75.js _parseLeadingByte), so it echoes the 'x' of "
        "`01 'x' FF` and the 'd' of `'c' 'd' FF`. Ours discards them: docs/protocols.md §4.1 "
        "step 3.",
    ),
    "LENIENT_UTF8": (
        "QUESTION: websocket-driver follows the draft's lenient decoding",
        "Invalid UTF-8 in hixie text: websocket-driver decodes it leniently (C3 becomes "
        "U+FFFD, `ef bf bd`) and echoes; ours fails the connection (hixie-75: TCP close; "
        "hixie-76: FF 00, then close). docs/protocols.md §4.1 step 4: hixie-era decoding was "
        "lenient (pywebsocket substitutes U+FFFD citing the draft); §7.2 allows failing or "
        "substituting. em-websocket fails too (see EM_NO_FF00).",
    ),
    "BINARY_REFUSED": (
        "the references follow the draft; ours is /echo's documented policy",
        "A length-prefixed `80` frame: both references read and discard it, as draft-76 "
        "§5.3 says (docs/protocols.md §4.1 step 2: read and discard len bytes), and stay open "
        "(em-websocket then stalls a frame that follows, see EM_STALL). Ours delivers it "
        "to /echo as binary, which hixie cannot carry back, so /echo refuses it: hixie-75 "
        "TCP close, hixie-76 FF 00 and close after the client's FF 00 or the close timeout "
        "(README: '/echo answers binary from a hixie peer it cannot echo back with a "
        "close, not silence'; §7.3).",
    ),
    "EM_ZERO_LENGTH_CLOSE": (
        "ours follows the draft; em-websocket bug",
        "em-websocket takes every length-prefixed frame of length 0 as the closing "
        "handshake, whatever its type and in hixie-75 too (framing76.rb, shared by both, "
        "checks only length == 0): it answers FF 00 and closes. docs/protocols.md §4.1 step 2: "
        "only type FF with length 0 closes, and only in hixie-76; in hixie-75 `FF 00` is "
        "an empty frame to discard (§5: hixie-75 has no closing handshake). Ours discards "
        "`FE 00` and hixie-75 `FF 00` and carries on; `80 00` is an empty binary message "
        "to ours, refused by /echo (see BINARY_REFUSED).",
    ),
    "EM_STALL": (
        "ours follows the draft; em-websocket bug",
        "After discarding a length-prefixed frame of non-zero length em-websocket stops "
        "parsing (framing76.rb sets error = true and returns), so the text frame that came "
        "in the same write waits in its buffer until more bytes arrive: no echo. Ours "
        "discards the frame and decodes the next one: docs/protocols.md §4.1 step 2.",
    ),
    "EM_NO_FF00": (
        "both allowed",
        "On a hixie-76 connection it fails (invalid UTF-8, over-long length prefix) "
        "em-websocket closes TCP without FF 00 (its Handler76 uses Close75, which only "
        "closes); ours, like websocket-driver, sends FF 00 first. docs/protocols.md §5: FF 00 "
        "is the hixie-76 closing handshake; §7.2: aborting a hixie connection is a TCP "
        "close. A client sees a closed connection either way.",
    ),
    "CLOSE_WAIT": (
        "both allowed",
        "Invalid UTF-8 in hybi-03 text: both answer an empty close frame `01 00`; "
        "em-websocket then waits for the client's close frame (60 s timeout), ours closes "
        "the TCP connection at once. docs/protocols.md §5 (hybi-01..05: close frame, body "
        "echoed, then close TCP) sets no wait after failing a connection.",
    ),
    "HYBI03_FRAGMENTED_CONTROL": (
        "unverified against hybi-03; ours is stricter on purpose",
        "`82 00`, a ping with the MORE bit: ours fails the connection (`01 00`, close); "
        "em-websocket buffers it as the start of a fragmented message and waits. "
        "docs/protocols.md §4.2 does not say whether hybi-01..03 forbade fragmented control "
        "frames; ours applies RFC 6455 §5.5's rule to hybi-03 as well: a control frame in "
        "pieces would have to be held whole until its last piece.",
    ),
    "HYBI03_CONTROL_LENGTH": (
        "em-websocket follows hybi-03; ours is stricter on purpose",
        "A ping of 126 bytes (16-bit length): em-websocket answers the pong; ours fails the "
        "connection (`01 00`, close). docs/protocols.md §4.4: the 125-byte cap on control "
        "payloads was enforced 'from this era' (hybi-06, pywebsocket 7ab414d); §4.2 gives "
        "hybi-01..03 frames the 7/16/64-bit length for every opcode, so a longer ping was "
        "legal in hybi-03. Ours keeps the later cap in every framed dialect: control frames "
        "are handled whole, and the cap bounds what one that arrives in pieces makes the "
        "server hold between reads.",
    ),
    "HYBI03_RSV": (
        "em-websocket is closer to hybi-03; ours is stricter on purpose",
        "`44 05 'Hello'`, RSV1 set with no extension: ours fails the connection (`01 00`, "
        "close); em-websocket ignores reserved bits and echoes. docs/protocols.md §1 (per-draft "
        "deltas): failing on non-zero RSV bits arrived in hybi-09; hybi-03 reserved them "
        "without saying what a receiver does. Ours reads a set reserved bit as an extension "
        "it never negotiated, whose frame it cannot interpret, and fails as RFC 6455 does.",
    ),
    "EM_ABORTS": (
        "both follow the draft",
        "A refused handshake: em-websocket closes without a response (handshake.rb: any "
        "HandshakeError aborts); ours answers 400 and closes. The drafts say only 'abort "
        "the connection' (draft-76 §5.2 steps 5-6 and the error table of docs/protocols.md "
        "§3.2, which recommends 400 + close: harmless, a failing -76 client closes "
        "anyway). The requests: a missing or repeated key, a key without spaces, not a "
        "multiple of its spaces or over 2^32-1, POST, Upgrade: foo, no Connection: "
        "Upgrade, Sec-WebSocket-Draft: 4 (no such draft, §2 row 8).",
    ),
    "EM_KEY_NO_DIGITS": (
        "ours follows docs/protocols.md",
        "A key with no digit: em-websocket reads it as the number 0 and answers 101 with "
        "the MD5 of part 0; ours (like websocket-driver and pywebsocket) refuses it with "
        "400: docs/protocols.md §3.2 error table, 'a key has no digits'.",
    ),
    "NODE_DESTROYS": (
        "both refuse",
        "POST, or Upgrade: foo: the kit's node script destroys the socket without a word "
        "when websocket-driver's isWebSocket() fails (GET, Connection containing upgrade, "
        "Upgrade equal to websocket); ours answers 400 and closes (docs/protocols.md §2 row 12; "
        "RFC 6455 §4.2.1 items 1 and 3).",
    ),
    "PLAIN_HTTP": (
        "no draft applies",
        "Without Upgrade (or, for Node, without Connection: Upgrade) the request is plain "
        "HTTP, not a handshake: ours answers 501 (README: every other plain HTTP request "
        "gets 501) and closes, or 400 when Upgrade is present but Connection lacks the "
        "token; the kit's node script answers 426 'websocket only' from its own request "
        "handler and keeps the connection alive; em-websocket closes. docs/protocols.md §2 row "
        "12: '400 (or plain HTTP)'.",
    ),
    "NOT_CHECKED": (
        "ours is stricter than both, as docs/protocols.md's request format",
        "No Host header, or HTTP/1.0: both references answer 101 regardless (without "
        "Host their location echo is `ws:///echo` and `ws://undefined/echo`); ours "
        "answers 400. The hixie-75 request is HTTP/1.1 and carries the Host the "
        "WebSocket-Location echo is built from (docs/protocols.md §3.1; RFC 6455 §4.2.1 items "
        "1 and 2).",
    ),
    "DRIVER_NO_DRAFT": (
        "ours follows docs/protocols.md",
        "Sec-WebSocket-Draft: 4: websocket-driver does not know the header (server.js "
        "picks Draft76 on Key1/Key2) and answers as hixie-76; ours refuses a value that "
        "names no draft with 400 (docs/protocols.md §2: row 8 covers 1-3, row 9 'absent or "
        "0').",
    ),
}

# One row per (case, reference server): the reason, and the exact lines the driver prints
# for the difference (a change in either server's bytes makes the row stop matching).
EXPLAINED_ROWS = [
    ('75-handshake-no-origin', 'em-websocket', 'NO_ORIGIN', (
        "header websocket-origin: ours '(absent)' / theirs ''",
    )),
    ('76-handshake-no-origin', 'em-websocket', 'NO_ORIGIN', (
        "header sec-websocket-origin: ours '(absent)' / theirs ''",
    )),
    ('75-handshake-protocol', 'em-websocket', 'SUBPROTOCOL', (
        "header websocket-protocol: ours 'sample' / theirs '(absent)'",
    )),
    ('75-handshake-protocol', 'websocket-driver', 'SUBPROTOCOL', (
        "header websocket-protocol: ours 'sample' / theirs '(absent)'",
    )),
    ('76-handshake-protocol', 'websocket-driver', 'SUBPROTOCOL', (
        "header sec-websocket-protocol: ours 'sample' / theirs '(absent)'",
    )),
    ('76-key3-late', 'em-websocket', 'HEAD_BEFORE_KEY3', (
        'arrived by each pause: ours head, head + 16 bytes / theirs nothing, head + 16 bytes',
    )),
    ('76-key3-short-eof', 'em-websocket', 'HEAD_BEFORE_KEY3', (
        'status: ours HTTP/1.1 101 WebSocket Protocol Handshake / theirs none',
    )),
    ('76-key3-split', 'em-websocket', 'EM_KEY3_SPLIT', (
        'status: ours HTTP/1.1 101 WebSocket Protocol Handshake / theirs none',
        "after the head: ours '8jKS' 27 'y:G*Co,Wxa-' / theirs (nothing)",
        'arrived by each pause: ours head, head + 16 bytes / theirs nothing, nothing',
        'end: ours open / theirs closed',
    )),
    ('75-binary-unterminated-eof', 'websocket-driver', 'HALF_OPEN', (
        'end: ours closed / theirs open',
    )),
    ('75-close-eof', 'websocket-driver', 'HALF_OPEN', (
        'end: ours closed / theirs open',
    )),
    ('75-text-eof', 'websocket-driver', 'HALF_OPEN', (
        'end: ours closed / theirs open',
    )),
    ('75-text-unterminated-eof', 'websocket-driver', 'HALF_OPEN', (
        'end: ours closed / theirs open',
    )),
    ('76-binary-unterminated-eof', 'websocket-driver', 'HALF_OPEN', (
        'end: ours closed / theirs open',
    )),
    ('76-key3-short-eof', 'websocket-driver', 'HALF_OPEN', (
        'end: ours closed / theirs open',
    )),
    ('76-text-eof', 'websocket-driver', 'HALF_OPEN', (
        'end: ours closed / theirs open',
    )),
    ('76-text-unterminated-eof', 'websocket-driver', 'HALF_OPEN', (
        'end: ours closed / theirs open',
    )),
    ('76-draft0', 'em-websocket', 'EM_DRAFT0', (
        'status: ours HTTP/1.1 101 WebSocket Protocol Handshake / theirs none',
        "after the head: ours '8jKS' 27 'y:G*Co,Wxa-' / theirs (nothing)",
        'end: ours open / theirs closed',
    )),
    ('03-pipelined', 'em-websocket', 'EM_EXTRA_BYTES', (
        'status: ours HTTP/1.1 101 WebSocket Protocol Handshake / theirs none',
        "after the head: ours '8jKS' 27 'y:G*Co,Wxa-' 04 05 'Hello' / theirs (nothing)",
        'end: ours open / theirs closed',
    )),
    ('75-pipelined', 'em-websocket', 'EM_EXTRA_BYTES', (
        'status: ours HTTP/1.1 101 Web Socket Protocol Handshake / theirs none',
        "after the head: ours 00 'Hello' ff / theirs (nothing)",
        'end: ours open / theirs closed',
    )),
    ('76-pipelined', 'em-websocket', 'EM_EXTRA_BYTES', (
        'status: ours HTTP/1.1 101 WebSocket Protocol Handshake / theirs none',
        "after the head: ours '8jKS' 27 'y:G*Co,Wxa-' 00 'Hello' ff / theirs (nothing)",
        'end: ours open / theirs closed',
    )),
    ('76-pipelined-late', 'em-websocket', 'EM_EXTRA_BYTES', (
        'status: ours HTTP/1.1 101 WebSocket Protocol Handshake / theirs none',
        "after the head: ours '8jKS' 27 'y:G*Co,Wxa-' 00 'Hello' ff / theirs (nothing)",
        'end: ours open / theirs closed',
    )),
    ('75-sentinel-type-01', 'em-websocket', 'EM_TYPE_NOT_00', (
        "after the head: ours 00 'Hello' ff / theirs (nothing)",
        'end: ours open / theirs closed',
    )),
    ('75-text-ff-inside', 'em-websocket', 'EM_TYPE_NOT_00', (
        'end: ours open / theirs closed',
    )),
    ('76-sentinel-type-01', 'em-websocket', 'EM_TYPE_NOT_00', (
        "after the head, after 16 identical bytes: ours 00 'Hello' ff / theirs (nothing)",
        'end: ours open / theirs closed',
    )),
    ('76-text-ff-inside', 'em-websocket', 'EM_TYPE_NOT_00', (
        'end: ours open / theirs closed',
    )),
    ('75-sentinel-type-01', 'websocket-driver', 'DRIVER_TYPE_NOT_00', (
        "after the head: ours 00 'Hello' ff / theirs 00 78 ff 00 'Hello' ff",
    )),
    ('75-text-ff-inside', 'websocket-driver', 'DRIVER_TYPE_NOT_00', (
        'after the head: ours 00 61 62 ff / theirs 00 61 62 ff 00 64 ff',
    )),
    ('76-sentinel-type-01', 'websocket-driver', 'DRIVER_TYPE_NOT_00', (
        "after the head, after 17 identical bytes: ours 'Hello' ff / theirs 78 ff 00 'Hello' ff",
    )),
    ('76-text-ff-inside', 'websocket-driver', 'DRIVER_TYPE_NOT_00', (
        'after the head, after 20 identical bytes: ours (nothing) / theirs 00 64 ff',
    )),
    ('75-text-bad-utf8', 'websocket-driver', 'LENIENT_UTF8', (
        'after the head: ours (nothing) / theirs 00 ef bf bd 28 ff',
        'end: ours closed / theirs open',
    )),
    ('76-text-bad-utf8', 'websocket-driver', 'LENIENT_UTF8', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs 00 ef bf bd 28 ff',
        'end: ours closed / theirs open',
    )),
    ('75-binary', 'em-websocket', 'BINARY_REFUSED', (
        'end: ours closed / theirs open',
    )),
    ('75-binary', 'websocket-driver', 'BINARY_REFUSED', (
        'end: ours closed / theirs open',
    )),
    ('75-binary-300', 'em-websocket', 'BINARY_REFUSED', (
        'end: ours closed / theirs open',
    )),
    ('75-binary-300', 'websocket-driver', 'BINARY_REFUSED', (
        'end: ours closed / theirs open',
    )),
    ('75-binary-empty', 'websocket-driver', 'BINARY_REFUSED', (
        'end: ours closed / theirs open',
    )),
    ('75-binary-then-text', 'em-websocket', 'BINARY_REFUSED', (
        'end: ours closed / theirs open',
    )),
    ('75-binary-then-text', 'websocket-driver', 'BINARY_REFUSED', (
        "after the head: ours (nothing) / theirs 00 'Hello' ff",
        'end: ours closed / theirs open',
    )),
    ('76-binary', 'em-websocket', 'BINARY_REFUSED', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs (nothing)',
    )),
    ('76-binary', 'websocket-driver', 'BINARY_REFUSED', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs (nothing)',
    )),
    ('76-binary-300', 'em-websocket', 'BINARY_REFUSED', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs (nothing)',
    )),
    ('76-binary-300', 'websocket-driver', 'BINARY_REFUSED', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs (nothing)',
    )),
    ('76-binary-empty', 'websocket-driver', 'BINARY_REFUSED', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs (nothing)',
    )),
    ('76-binary-then-text', 'em-websocket', 'BINARY_REFUSED', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs (nothing)',
    )),
    ('76-binary-then-text', 'websocket-driver', 'BINARY_REFUSED', (
        "after the head, after 16 identical bytes: ours ff 00 / theirs 00 'Hello' ff",
    )),
    ('75-binary-empty', 'em-websocket', 'EM_ZERO_LENGTH_CLOSE', (
        'after the head: ours (nothing) / theirs ff 00',
    )),
    ('75-close', 'em-websocket', 'EM_ZERO_LENGTH_CLOSE', (
        'after the head: ours (nothing) / theirs ff 00',
        'end: ours open / theirs closed',
    )),
    ('75-close-eof', 'em-websocket', 'EM_ZERO_LENGTH_CLOSE', (
        'after the head: ours (nothing) / theirs ff 00',
    )),
    ('75-close-then-text', 'em-websocket', 'EM_ZERO_LENGTH_CLOSE', (
        "after the head: ours 00 'Hello' ff / theirs ff 00",
        'end: ours open / theirs closed',
    )),
    ('75-type-fe-empty', 'em-websocket', 'EM_ZERO_LENGTH_CLOSE', (
        "after the head: ours 00 'Hello' ff / theirs ff 00",
        'end: ours open / theirs closed',
    )),
    ('76-binary-empty', 'em-websocket', 'EM_ZERO_LENGTH_CLOSE', (
        'end: ours open / theirs closed',
    )),
    ('76-type-fe-empty', 'em-websocket', 'EM_ZERO_LENGTH_CLOSE', (
        "after the head, after 16 identical bytes: ours 00 'Hello' ff / theirs ff 00",
        'end: ours open / theirs closed',
    )),
    ('75-type-82', 'em-websocket', 'EM_STALL', (
        "after the head: ours 00 'Hello' ff / theirs (nothing)",
    )),
    ('75-type-ff-length-1', 'em-websocket', 'EM_STALL', (
        "after the head: ours 00 'Hello' ff / theirs (nothing)",
    )),
    ('76-type-82', 'em-websocket', 'EM_STALL', (
        "after the head, after 16 identical bytes: ours 00 'Hello' ff / theirs (nothing)",
    )),
    ('76-type-ff-length-1', 'em-websocket', 'EM_STALL', (
        "after the head, after 16 identical bytes: ours 00 'Hello' ff / theirs (nothing)",
    )),
    ('76-length-overflow', 'em-websocket', 'EM_NO_FF00', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs (nothing)',
    )),
    ('76-text-bad-utf8', 'em-websocket', 'EM_NO_FF00', (
        'after the head, after 16 identical bytes: ours ff 00 / theirs (nothing)',
    )),
    ('03-text-bad-utf8', 'em-websocket', 'CLOSE_WAIT', (
        'end: ours closed / theirs open',
    )),
    ('03-ping-fragmented', 'em-websocket', 'HYBI03_FRAGMENTED_CONTROL', (
        'after the head, after 16 identical bytes: ours 01 00 / theirs (nothing)',
        'end: ours closed / theirs open',
    )),
    ('03-ping-126', 'em-websocket', 'HYBI03_CONTROL_LENGTH', (
        'after the head, after 16 identical bytes: ours 01 00 / theirs 03 7e 00 '
        "'~pppppppppppppppppppppppppppppppppppp' ... (130 bytes, sha1 6c6cc24a)",
        'end: ours closed / theirs open',
    )),
    ('03-rsv1', 'em-websocket', 'HYBI03_RSV', (
        "after the head, after 16 identical bytes: ours 01 00 / theirs 04 05 'Hello'",
        'end: ours closed / theirs open',
    )),
    ('03-draft4', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('75-no-connection', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('75-post', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('75-upgrade-other', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('76-key-no-spaces', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('76-key-not-multiple', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('76-key-overflow', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('76-key1-repeated', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('76-missing-key2', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('76-post', 'em-websocket', 'EM_ABORTS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('76-key-no-digits', 'em-websocket', 'EM_KEY_NO_DIGITS', (
        'status: ours HTTP 400 / theirs HTTP/1.1 101 WebSocket Protocol Handshake',
        'bytes: ours (nothing) / theirs dc 0c 56 40 e4 89 8f 71 53 bb d7 6e 2a de cb 43',
        'end: ours closed / theirs open',
    )),
    ('75-post', 'websocket-driver', 'NODE_DESTROYS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('75-upgrade-other', 'websocket-driver', 'NODE_DESTROYS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('76-post', 'websocket-driver', 'NODE_DESTROYS', (
        'status: ours HTTP 400 / theirs none',
    )),
    ('75-no-connection', 'websocket-driver', 'PLAIN_HTTP', (
        'status: ours HTTP 400 / theirs HTTP 426',
        'end: ours closed / theirs open',
    )),
    ('75-no-upgrade', 'em-websocket', 'PLAIN_HTTP', (
        'status: ours HTTP 501 / theirs none',
    )),
    ('75-no-upgrade', 'websocket-driver', 'PLAIN_HTTP', (
        'status: ours HTTP 501 / theirs HTTP 426',
        'end: ours closed / theirs open',
    )),
    ('76-no-upgrade', 'em-websocket', 'PLAIN_HTTP', (
        'status: ours HTTP 501 / theirs none',
    )),
    ('76-no-upgrade', 'websocket-driver', 'PLAIN_HTTP', (
        'status: ours HTTP 501 / theirs HTTP 426',
    )),
    ('75-http10', 'em-websocket', 'NOT_CHECKED', (
        'status: ours HTTP 400 / theirs HTTP/1.1 101 Web Socket Protocol Handshake',
        'end: ours closed / theirs open',
    )),
    ('75-http10', 'websocket-driver', 'NOT_CHECKED', (
        'status: ours HTTP 400 / theirs HTTP/1.1 101 Web Socket Protocol Handshake',
        'end: ours closed / theirs open',
    )),
    ('75-no-host', 'em-websocket', 'NOT_CHECKED', (
        'status: ours HTTP 400 / theirs HTTP/1.1 101 Web Socket Protocol Handshake',
        'end: ours closed / theirs open',
    )),
    ('75-no-host', 'websocket-driver', 'NOT_CHECKED', (
        'status: ours HTTP 400 / theirs HTTP/1.1 101 Web Socket Protocol Handshake',
        'end: ours closed / theirs open',
    )),
    ('03-draft4', 'websocket-driver', 'DRIVER_NO_DRAFT', (
        'status: ours HTTP 400 / theirs HTTP/1.1 101 WebSocket Protocol Handshake',
        "bytes: ours (nothing) / theirs '8jKS' 27 'y:G*Co,Wxa-'",
        'end: ours closed / theirs open',
    )),
]


@dataclasses.dataclass(frozen=True)
class Explained:
    case: str
    server: str
    reason: str
    diff: tuple


EXPLAINED = [Explained(*row) for row in EXPLAINED_ROWS]
assert all(e.reason in REASONS for e in EXPLAINED)


# --- running ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Observation:
    segments: list  # bytes received by each WAIT, then the rest
    closed: bool  # the server closed (FIN or RST) before we gave up waiting
    reset: bool = False
    error: str = ""  # could not connect

    @property
    def stream(self):
        return b"".join(self.segments)


def read_until_quiet(sock, quiet, deadline, budget):
    """Read until `quiet` seconds pass without a byte, EOF, RST, the deadline or the budget.
    Returns (bytes, eof, reset)."""
    got = bytearray()
    while len(got) < budget:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(min(quiet, left))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, ConnectionAbortedError):
            return bytes(got), True, True
        if not chunk:
            return bytes(got), True, False
        got += chunk
    return bytes(got), False, False


def run_one(case, port, slow=1):
    quiet, final_quiet = QUIET * slow, FINAL_QUIET * slow
    deadline = time.monotonic() + CASE_DEADLINE * slow
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT)
    except OSError as e:
        return Observation([], True, error=f"connect: {e}")
    segments, current, closed, reset = [], b"", False, False
    budget = MAX_BYTES
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for step in case.steps:
            if closed:
                break
            if isinstance(step, bytes):
                data = step.replace(HOST_PORT.encode(), f"127.0.0.1:{port}".encode())
                try:
                    sock.settimeout(max(0.1, deadline - time.monotonic()))
                    sock.sendall(data)
                except OSError:
                    pass  # the server may have closed already: what it said is the answer
            elif step is SHUT:
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            else:
                got, closed, was_reset = read_until_quiet(sock, quiet, deadline, budget)
                reset |= was_reset
                budget -= len(got)
                segments.append(current + got)
                current = b""
        if not closed:
            got, closed, was_reset = read_until_quiet(sock, final_quiet, deadline, budget)
            reset |= was_reset
            current += got
        segments.append(current)
    return Observation(segments, closed, reset)


# --- normalising and comparing ----------------------------------------------------------------

IGNORED_HEADERS = {"server", "date"}


@dataclasses.dataclass
class Normal:
    status: str  # "101 <status line>", "HTTP <code>", "none" or "not HTTP"
    headers: dict  # lower-case name -> list of values (101 only)
    after: bytes  # bytes after a 101 head, or the whole stream when there is no head
    closed: bool
    arrivals: tuple  # timed cases: what had arrived at each WAIT


def split_head(stream):
    end = stream.find(b"\r\n\r\n")
    if not stream.startswith(b"HTTP/") or end < 0:
        return None, stream
    return stream[:end], stream[end + 4:]


def normalise(obs, port):
    raw_head, after = split_head(obs.stream)
    headers = {}
    if raw_head is None:
        status = "none" if not obs.stream else "not HTTP"
    else:
        lines = raw_head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        code = parts[1] if len(parts) > 1 else "?"
        if code == "101":
            status = lines[0]
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name in IGNORED_HEADERS:
                    continue
                value = value.strip().replace(f"127.0.0.1:{port}", "127.0.0.1:PORT")
                headers.setdefault(name, []).append(value)
        else:
            status, after = f"HTTP {code}", b""
    return Normal(status, headers, after, obs.closed, arrivals(obs))


def arrivals(obs):
    """For each WAIT: what had arrived by then ('nothing', 'part of the head', 'head',
    'head + N bytes', or 'N bytes' without a head)."""
    out, seen = [], b""
    for segment in obs.segments[:-1]:
        seen += segment
        raw_head, after = split_head(seen)
        if not seen:
            out.append("nothing")
        elif raw_head is not None:
            out.append(f"head + {len(after)} bytes" if after else "head")
        elif seen.startswith(b"HTTP/"):
            out.append("part of the head")
        else:
            out.append(f"{len(seen)} bytes")
    return tuple(out)


def render(data, limit=40):
    """Bytes as hex, printable runs of 3+ quoted: `00 'Hello' ff`; long ones abbreviated."""
    if not data:
        return "(nothing)"
    shown = data[:limit]
    tokens, i = [], 0
    while i < len(shown):
        j = i
        while j < len(shown) and 0x20 <= shown[j] < 0x7F and shown[j] != 0x27:
            j += 1
        if j - i >= 3:
            tokens.append("'" + shown[i:j].decode() + "'")
            i = j
        else:
            tokens.append(f"{shown[i]:02x}")
            i += 1
    if len(data) > limit:
        digest = hashlib.sha1(data).hexdigest()[:8]
        tokens.append(f"... ({len(data)} bytes, sha1 {digest})")
    return " ".join(tokens)


def differences(ours, theirs, timed):
    """The lines that say how two normalised observations differ (empty: identical)."""
    lines = []
    if ours.status != theirs.status:
        lines.append(f"status: ours {ours.status} / theirs {theirs.status}")
    elif ours.status.startswith("HTTP/"):
        for name in sorted(set(ours.headers) | set(theirs.headers)):
            a, b = ours.headers.get(name), theirs.headers.get(name)
            if a != b:
                fa = "; ".join(a) if a is not None else "(absent)"
                fb = "; ".join(b) if b is not None else "(absent)"
                lines.append(f"header {name}: ours {fa!r} / theirs {fb!r}")
    if ours.after != theirs.after:
        label = "after the head" if ours.status.startswith("HTTP/") else "bytes"
        a, b = ours.after, theirs.after
        same = 0
        while same < min(len(a), len(b)) and a[same] == b[same]:
            same += 1
        if same >= 8:  # e.g. the 16-byte hixie-76 answer: say it once, show what differs
            label += f", after {same} identical bytes"
            a, b = a[same:], b[same:]
        lines.append(f"{label}: ours {render(a)} / theirs {render(b)}")
    if timed and ours.arrivals != theirs.arrivals:
        lines.append(
            f"arrived by each pause: ours {', '.join(ours.arrivals)} / "
            f"theirs {', '.join(theirs.arrivals)}"
        )
    if ours.closed != theirs.closed:
        state = {True: "closed", False: "open"}
        lines.append(f"end: ours {state[ours.closed]} / theirs {state[theirs.closed]}")
    return tuple(lines)


def summary(n):
    """One line for the table: what a server sent and how the connection ended."""
    if n.status.startswith("HTTP/"):
        head = n.status.split(" ", 2)[1]
    else:
        head = n.status
    body = render(n.after, 24) if n.after else ""
    end = "closed" if n.closed else "open"
    return " ".join(x for x in (head, body, end) if x)


def print_markdown(rows):
    """The results table, then every reason with the rows it explains."""
    print("| case | dialect | what is sent | omniws answers | em-websocket | websocket-driver |")
    print("|---|---|---|---|---|---|")
    for case, ours, cells, _ in rows:
        what = case.what.replace("|", "\\|")
        print(f"| `{case.name}` | {case.dialect} | {what} | `{ours}` | "
              f"{cells['em-websocket']} | {cells['websocket-driver']} |")
    for key, (verdict, text) in REASONS.items():
        print(f"\n### {key}: {verdict}\n\n{text}\n")
        for e in EXPLAINED:
            if e.reason == key:
                print(f"- `{e.case}` vs {e.server}: " + "; ".join(f"`{x}`" for x in e.diff))


# --- main -------------------------------------------------------------------------------------


def run_case(case, ports, slow=1):
    names = (OURS,) + case.servers
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        futures = {n: pool.submit(run_one, case, ports[n], slow) for n in names}
        return {n: f.result() for n, f in futures.items()}


def compare(case, observed, ports):
    norm = {n: normalise(o, ports[n]) for n, o in observed.items()}
    return norm, {
        s: differences(norm[OURS], norm[s], case.timed) for s in case.servers
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", default=[], metavar="NAME=PORT")
    parser.add_argument("--case", action="append", default=[], metavar="SUBSTRING")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every observation")
    parser.add_argument("--rows", action="store_true",
                        help="print an EXPLAINED row skeleton for each unexplained difference")
    args = parser.parse_args()
    ports = {}
    for spec in args.server:
        name, _, port = spec.partition("=")
        ports[name] = int(port)
    wanted = (OURS,) + REFERENCES
    if set(ports) != set(wanted):
        parser.error(f"need --server NAME=PORT for each of {', '.join(wanted)}")
    selected = [c for c in cases() if not args.case or any(s in c.name for s in args.case)]

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(CASES_AT_ONCE) as pool:
        observed = list(pool.map(lambda c: run_case(c, ports), selected))
        compared = [compare(c, o, ports) for c, o in zip(selected, observed)]
        # Confirm every difference with longer waits: a busy machine must not make one.
        again = [i for i, (_, diffs) in enumerate(compared) if any(diffs.values())]
        for i, obs in zip(again, pool.map(lambda i: run_case(selected[i], ports, SLOW), again)):
            observed[i] = obs
            compared[i] = compare(selected[i], obs, ports)
    results = [(c, o) + cmp for c, o, cmp in zip(selected, observed, compared)]

    explained = {(e.case, e.server): e for e in EXPLAINED}
    used, unexplained, errors = set(), [], []
    rows = []
    for case, obs, norm, diffs in results:
        cells = {}
        for name, o in obs.items():
            if o.error:
                errors.append(f"{case.name} / {name}: {o.error}")
        for server in REFERENCES:
            if server not in case.servers:
                cells[server] = "n/a"
                continue
            d = diffs[server]
            row = explained.get((case.name, server))
            if not d:
                cells[server] = "identical"
            elif row is not None and set(row.diff) == set(d):
                used.add((case.name, server))
                cells[server] = f"differs: {row.reason}"
            else:
                cells[server] = "DIFFERS: unexplained"
                unexplained.append((case, server, d, row))
        rows.append((case, summary(norm[OURS]), cells, norm))

    if args.markdown:
        print_markdown(rows)
    else:
        w, c = max(len(c.name) for c in selected), 36
        print(f"{'case':<{w}}  {'em-websocket':<{c}} {'websocket-driver':<{c}} omniws answers")
        for case, ours, cells, norm in rows:
            print(f"{case.name:<{w}}  {cells['em-websocket']:<{c}} "
                  f"{cells['websocket-driver']:<{c}} {ours}")
            if args.verbose:
                for name, n in norm.items():
                    print(f"    {name}: {n.status} {dict(n.headers) if n.headers else ''}")
                    print(f"      {render(n.after, 64)} | {'closed' if n.closed else 'open'}"
                          f" | {', '.join(n.arrivals)}")
    if args.rows:
        for case, server, d, _ in unexplained:
            print(f"    ({case.name!r}, {server!r}, REASON, {d!r}),")
    for case, server, d, row in unexplained:
        print(f"\nUNEXPLAINED {case.name} ({case.dialect}: {case.what}) vs {server}:")
        for line in d:
            print(f"    {line}")
        if row is not None:
            print(f"  the row explaining it ({row.reason}) expects:")
            for line in row.diff:
                print(f"    {line}")
    unexplained_keys = {(c.name, srv) for c, srv, _, _ in unexplained}
    stale = [e for e in EXPLAINED if (e.case, e.server) not in used | unexplained_keys
             and any(c.name == e.case for c in selected)]
    for e in stale:
        print(f"\nstale explanation ({e.case} vs {e.server}, {e.reason}): no longer "
              "differs; remove the row")
    for e in errors:
        print(f"\nERROR {e}")
    n_diff = sum(1 for _, _, cells, _ in rows for c in cells.values() if c.startswith("differs"))
    n_same = sum(1 for _, _, cells, _ in rows for c in cells.values() if c == "identical")
    print(f"\ndifferential: {len(selected)} cases, {n_same} identical, {n_diff} explained "
          f"differences, {len(unexplained)} unexplained, {len(errors)} errors "
          f"({time.monotonic() - started:.1f} s)")
    return 1 if unexplained or errors else 0


if __name__ == "__main__":
    sys.exit(main())
