// A relay round trip driven by the websocket-relay 0.3 JavaScript client itself
// (npm websocket-relay@0.3.3, whose WebSocketRelay class runs in node on ws@1).
//
// usage: node relay_client.js HOST:PORT ADMIN_TOKEN
// env:   RELAY_MODULES: the node_modules holding websocket-relay
//
// 1. Registers clients A and B and their channel over the server's HTTP API.
// 2. A child process connects as A, sends three messages to B (not connected), and exits:
//    they can only reach B if the server queued them.
// 3. B connects, must get the three in order, answers A (gone now: queued again).
// 4. A reconnects, must get the answer; then A and B exchange a live message each way.
// Exits 0 when every step checked out, 1 otherwise (or after 20 s).
'use strict';
const http = require('http');
const path = require('path');
const { fork } = require('child_process');

const [address, adminToken, role, idsJson] = process.argv.slice(2);
const modules = process.env.RELAY_MODULES;
const WebSocketRelay = require(path.join(modules, 'websocket-relay', 'src'));

setTimeout(() => fail('timed out'), 20000).unref();

function fail(why) {
  console.error(`relay_client ${role || 'main'}: FAIL ${why}`);
  process.exit(1);
}

function post(urlPath, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? '' : JSON.stringify(body);
    const [host, port] = address.split(':');
    const req = http.request(
      {
        host,
        port,
        path: urlPath,
        method: 'POST',
        headers: {
          Authorization: `Bearer ${adminToken}`,
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(data),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

// Resolves with the next `count` messages on `channel`.
function receive(channel, count) {
  return new Promise((resolve) => {
    const got = [];
    channel.on('message', (m) => {
      got.push(m);
      if (got.length === count) resolve(got);
    });
  });
}

function connect(client) {
  // The server should never answer with an error here; the client library throws on
  // anything but a relay, which fails the run.
  return new WebSocketRelay(`${address}/relay`, { clientId: client.id, token: client.token });
}

function expectEqual(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  console.log(`ok   ${what}: ${JSON.stringify(got)}`);
}

async function sender([a, b]) {
  const relay = connect(a);
  const channel = relay.createChannel(b.id);
  relay.on('open', () => {
    for (const m of ['offer 1', 'offer 2 "quoted" é😀', 'offer 3']) channel.send(m);
    // Give the bytes time to leave, then vanish without a goodbye.
    setTimeout(() => process.exit(0), 300);
  });
}

async function main() {
  const one = await post('/relay/clients');
  const two = await post('/relay/clients');
  if (one.status !== 201 || two.status !== 201) fail(`registration: ${one.status} ${two.status}`);
  const a = one.body;
  const b = two.body;
  const channel = await post('/relay/channels', { clients: [a.id, b.id] });
  expectEqual(channel.status, 201, 'channel registered');
  expectEqual((await post('/relay/channels', { clients: [b.id, a.id] })).status, 409, 'channel again');

  const child = fork(__filename, [address, adminToken, 'sender', JSON.stringify([a, b])]);
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) fail(`sender exited ${code}`);

  const relayB = connect(b);
  const fromA = relayB.createChannel(a.id);
  const queued = await receive(fromA, 3);
  expectEqual(queued, ['offer 1', 'offer 2 "quoted" é😀', 'offer 3'], 'B got what A sent while B was away');
  fromA.send('answer while A is away');

  await new Promise((resolve) => setTimeout(resolve, 200));
  const relayA = connect(a);
  const fromB = relayA.createChannel(b.id);
  expectEqual(await receive(fromB, 1), ['answer while A is away'], 'A got the queued answer');
  fromB.send('live to B');
  expectEqual(await receive(fromA, 1), ['live to B'], 'B got a live message');
  fromA.send('live to A');
  expectEqual(await receive(fromB, 1), ['live to A'], 'A got a live message');
  console.log('relay_client: all checks passed');
  process.exit(0);
}

if (role === 'sender') {
  sender(JSON.parse(idsJson)).catch((e) => fail(e.stack || e));
} else {
  main().catch((e) => fail(e.stack || e));
}
