#!/usr/bin/env python3
"""An RFC 6455 echo server on the third-party `websockets` library over wss://, for our
client: the certificate and key given, Python's own ssl module.

usage: python py_websockets_wss_echo.py CERT KEY PORT
"""
import asyncio
import ssl
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except Exception:
        pass


async def main(port, cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    async with serve(echo, "127.0.0.1", port, ssl=context, max_size=64 * 2**20,
                     ping_interval=None) as server:
        print(f"websockets echo listening on wss://127.0.0.1:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: py_websockets_wss_echo.py CERT KEY PORT")
    asyncio.run(main(int(sys.argv[3]), sys.argv[1], sys.argv[2]))
