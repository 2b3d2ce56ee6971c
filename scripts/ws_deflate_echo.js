#!/usr/bin/env node
// npm `ws` echo server with permessage-deflate on: the peer of scripts/bench-deflate.sh.
//
// usage: node scripts/ws_deflate_echo.js PORT [HOST]
//   HOST defaults to 127.0.0.1. Every path is a WebSocket echo (ws's `noServer`-less
//   WebSocketServer accepts any path); each message goes back with the type it came with.
//   Prints one line once it listens: `ws@VERSION deflate echo listening on ws://HOST:PORT/
//   (bufferutil: yes|no)`.
//
// Where npm ws comes from: $CONFORMANCE_HOME/node/node_modules (default
// /tmp/ws-conformance/node/node_modules), as tests/conformance/*.js find it. If it is
// missing, install it with the conformance kit:
//   bash ../shared/conformance/install.sh node      (ws 8.23.0, and bufferutil beside it)
// (scripts/bench-deflate.sh runs that itself when the module is missing.)
//
// `perMessageDeflate: true` is ws's documented way to turn compression on with its defaults,
// and those defaults are what is measured here (ws 8.x lib/permessage-deflate.js):
//   - threshold 1024: messages under 1024 bytes are sent uncompressed (a 1 KiB message is
//     compressed: the test is `length < threshold`);
//   - context takeover kept both ways: ws asks for no `*_no_context_takeover` and agrees to
//     a client's offer as it stands (to `permessage-deflate; client_max_window_bits` it
//     answers `permessage-deflate`), so every connection keeps a zlib deflate stream and an
//     inflate stream for its life once it has used them (without context takeover ws resets
//     its streams, it does not free them);
//   - zlib: level Z_DEFAULT_COMPRESSION (6), memLevel 8, strategy Z_DEFAULT_STRATEGY,
//     windowBits 15 both ways (Z_DEFAULT_WINDOWBITS), node's bundled zlib;
//   - concurrencyLimit 10: at most 10 zlib operations of the process at once, run on libuv's
//     thread pool (4 threads by default), so part of the server's CPU is in those threads;
//   - maxPayload is raised to 64 MiB as in the other peers (ws's default is 100 MiB; a 1 KiB
//     benchmark never comes near either).
// bufferutil, when installed beside ws (the kit installs it), does ws's masking and unmasking
// natively; ws uses it on its own when it can load it.
'use strict';
const http = require('http');
const path = require('path');

const home = process.env.CONFORMANCE_HOME || '/tmp/ws-conformance';
const modules = path.join(home, 'node', 'node_modules');
const [portText, host = '127.0.0.1'] = process.argv.slice(2);
if (!portText || !/^\d+$/.test(portText)) {
  console.error('usage: node ws_deflate_echo.js PORT [HOST]');
  process.exit(2);
}

let ws;
try {
  ws = require(path.join(modules, 'ws'));
} catch (e) {
  console.error(`npm ws not found under ${modules} (${e.code || e.message}); install it with:`);
  console.error('  bash ../shared/conformance/install.sh node');
  process.exit(1);
}
const version = require(path.join(modules, 'ws', 'package.json')).version;
let bufferutil = 'no';
try {
  require(path.join(modules, 'bufferutil'));
  bufferutil = 'yes';
} catch (_) {
  // ws falls back to its JavaScript masking
}

const server = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('websocket only\n');
});
const wss = new ws.WebSocketServer({ server, perMessageDeflate: true, maxPayload: 64 << 20 });
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => {});
});
server.listen(parseInt(portText, 10), host, () => {
  console.log(`ws@${version} deflate echo listening on ws://${host}:${portText}/ (bufferutil: ${bufferutil})`);
});
