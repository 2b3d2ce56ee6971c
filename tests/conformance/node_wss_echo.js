#!/usr/bin/env node
// Third-party echo servers over wss://, for our client: npm `ws` (RFC 6455 and hybi-08) or
// npm `websocket-driver` (RFC 6455, hixie-76, hixie-75), each behind node's own TLS
// (https.createServer), with the certificate and key given.
// usage: node node_wss_echo.js ws|driver CERT KEY PORT
// The kit's packages are loaded from $CONFORMANCE_HOME/node/node_modules.
'use strict';
const fs = require('fs');
const https = require('https');
const path = require('path');
const home = process.env.CONFORMANCE_HOME || '/tmp/ws-conformance';
const lib = (name) => require(path.join(home, 'node', 'node_modules', name));
const [kind, cert, key, portText] = process.argv.slice(2);
if (!['ws', 'driver'].includes(kind) || !portText) {
  console.error('usage: node node_wss_echo.js ws|driver CERT KEY PORT');
  process.exit(2);
}
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) },
  (req, res) => { res.writeHead(426); res.end('websocket only\n'); });

if (kind === 'ws') {
  const { WebSocketServer } = lib('ws');
  const wss = new WebSocketServer({ server, maxPayload: 64 << 20 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
} else {
  const websocket = lib('websocket-driver');
  server.on('upgrade', (request, socket, body) => {
    socket.on('error', () => {});
    if (!websocket.isWebSocket(request)) { socket.destroy(); return; }
    const driver = websocket.http(request, { allowDrafts: true, maxLength: 64 << 20 });
    driver.on('error', () => {});
    driver.on('message', (ev) => (typeof ev.data === 'string' ? driver.text(ev.data) : driver.binary(ev.data)));
    driver.on('close', () => socket.end());
    // As in the kit's plain server: pipe, start, then the bytes read past the headers.
    socket.pipe(driver.io).pipe(socket);
    driver.start();
    if (body && body.length) driver.io.write(body);
  });
}
server.listen(parseInt(portText, 10), '127.0.0.1',
  () => console.log(`${kind} echo listening on wss://127.0.0.1:${portText}/`));
