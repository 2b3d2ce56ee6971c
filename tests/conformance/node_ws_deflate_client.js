#!/usr/bin/env node
// npm `ws` as a client with permessage-deflate on, against our server: the kit's message set
// (../shared/conformance/peers/msgset.js), and a failure unless the server agreed to
// compression. `--context` lets both sides keep their context (ws's default offer); without
// it the client offers no context takeover either way.
// usage: node node_ws_deflate_client.js URL [--version 8|13] [--context] [--timeout S] [-q]
// env:   KIT (default ../shared/conformance)
'use strict';
const path = require('path');
const kit = process.env.KIT || path.join(__dirname, '..', '..', '..', 'shared', 'conformance');
const ms = require(path.join(path.resolve(kit), 'peers', 'msgset'));
const context = process.argv.includes('--context');
const a = ms.parseArgs(process.argv.filter((x) => x !== '--context'), { version: '13' });
if (a.help || !a.url) {
  console.log('usage: node_ws_deflate_client.js URL [--version 8|13] [--context] [--timeout S] [-q]');
  process.exit(2);
}
const WebSocket = require(path.join(ms.nodeModules(), 'ws'));
const version = parseInt(a.version, 10);
const msgs = ms.messages({ sizes: a.sizes, binary: a.binary });
const deflate = context
  ? { threshold: 0 }
  : { threshold: 0, clientNoContextTakeover: true, serverNoContextTakeover: true };
const ws = new WebSocket(a.url, { protocolVersion: version, perMessageDeflate: deflate, maxPayload: 64 << 20 });
const name = `ws@${require(path.join(ms.nodeModules(), 'ws', 'package.json')).version} v${version} deflate`;
const r = ms.makeRunner(name, msgs, a.timeout, {
  send: (m) => ws.send(m.data, { binary: m.kind === 'binary', compress: true }),
  close: () => ws.close(1000),
}, a.quiet);
ws.on('open', () => {
  if (!ws.extensions.includes('permessage-deflate')) {
    r.error(new Error(`permessage-deflate not agreed: "${ws.extensions}"`));
    return;
  }
  r.start();
});
ws.on('message', (data, isBinary) => r.received(data, isBinary));
ws.on('error', (e) => r.error(e));
ws.on('close', (code) => r.closed('close code ' + code));
r.done.then((rc) => setTimeout(() => process.exit(rc), 50));
