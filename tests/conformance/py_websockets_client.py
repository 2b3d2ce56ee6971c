#!/usr/bin/env python3
"""Python `websockets` (the kit's python-venv) as a client of our /echo, over ws:// or wss://.

usage: py_websockets_client.py URL [--timeout S] [-q]

The same message set as the kit's node drivers (texts and binaries of 0, 125, 126, 65535,
65536 and 1 MiB bytes, and one multi-byte UTF-8 text), each sent and its echo compared, then
a close with 1000. For wss:// the certificate is verified against the default CA store, which
SSL_CERT_FILE points at. Prints one line; exit 0 only if every echo matched and the close
was clean.
"""
import asyncio
import ssl
import sys

import websockets

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]
UTF8_TEXT = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!! \u03ba\u1f79\u03c3\u03bc\u03b5 \u65e5\u672c \U0001F600"


def text_of(n):
    unit = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~" * 16
    return (unit * (n // len(unit) + 1))[:n]


def messages():
    out = [text_of(n) for n in SIZES] + [UTF8_TEXT]
    out += [bytes(i & 0xFF for i in range(n)) for n in SIZES]
    return out


async def run(url, timeout):
    context = ssl.create_default_context() if url.startswith("wss://") else None
    passed = failed = 0
    async with websockets.connect(
        url, ssl=context, compression=None, max_size=64 << 20, open_timeout=timeout
    ) as ws:
        for message in messages():
            await ws.send(message)
            echo = await asyncio.wait_for(ws.recv(), timeout)
            if echo == message:
                passed += 1
            else:
                failed += 1
        await ws.close(1000)
        clean = ws.close_code == 1000
    return passed, failed, clean


def main():
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    url, timeout = args[0], 20.0
    if "--timeout" in args:
        timeout = float(args[args.index("--timeout") + 1])
    try:
        passed, failed, clean = asyncio.run(run(url, timeout))
    except Exception as e:  # a refused handshake, a bad certificate, a timeout
        print(f"websockets {websockets.__version__}: error: {e!r}")
        return 1
    print(
        f"websockets {websockets.__version__}: {passed} passed, {failed} failed"
        + ("" if clean else ", close not clean")
    )
    return 0 if failed == 0 and clean else 1


if __name__ == "__main__":
    sys.exit(main())
