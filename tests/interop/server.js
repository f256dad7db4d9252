// The interop peer's server: Echo (delay/fail/repeat behaviours from EchoMessage, same as Weft's test
// EchoService) and grpc.health.v1.Health. Prints "listening <port>" once bound, then one
// "event <what> <method> <text>" line per thing a test may want to wait for (e.g. a call being
// cancelled; <text> is the request's, so a test can tell its call from others).
// Health statuses are changed through Echo.Unary with text "set-health <service> <STATUS>".
// The same services also listen on a second port with 16 MB message limits instead of 4 MB
// ("listening-large <port>"), for the 10 MB scenarios only.
// Beyond Weft's EchoService: Unary with text "gather <group> <n>" answers only once n calls of that
// group are open at once; Unary with metadata x-want-trailer echoes it in x-header-echo (headers)
// and x-trailer-echo, x-trailer-bin (trailers); a client stream is answered with the SHA-256 of each
// payload; failures carry trailing metadata x-failed-by and x-failed-text-bin.
'use strict';
const crypto = require('crypto');
const { grpc, Echo, Health } = require('./proto');
const { Gatherings } = require('./gatherings');

const host = process.argv[2] || '127.0.0.1';

function event(what, method, text) {
  process.stdout.write(`event ${what} ${method} ${text}\n`);
}

// Waits delayMs unless the call is cancelled first; resolves false when cancelled.
function delay(call, ms, method, text) {
  if (!ms || ms <= 0) return Promise.resolve(true);
  event('waiting', method, text);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    call.on('cancelled', () => {
      clearTimeout(timer);
      event('cancelled', method, text);
      resolve(false);
    });
  });
}

function failure(msg) {
  if (!msg.failCode) return null;
  const metadata = new grpc.Metadata();
  metadata.set('x-failed-by', 'server.js');
  metadata.set('x-failed-text-bin', Buffer.from(msg.text, 'utf8'));
  return { code: msg.failCode, details: 'failed: ' + msg.text, metadata };
}

const gatherings = new Gatherings((group) => event('gathered', 'Echo/Unary', group));

// --- health ------------------------------------------------------------------------------------
const statuses = new Map([['', 'SERVING']]);
const watchers = new Map(); // service -> Set of calls

function setHealth(service, status) {
  statuses.set(service, status);
  for (const call of watchers.get(service) || []) call.write({ status });
}

const health = {
  check(call, callback) {
    const status = statuses.get(call.request.service);
    if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
    else callback(null, { status });
  },
  watch(call) {
    const service = call.request.service;
    if (!watchers.has(service)) watchers.set(service, new Set());
    watchers.get(service).add(call);
    call.on('cancelled', () => {
      watchers.get(service).delete(call);
      event('cancelled', 'Health/Watch');
    });
    call.write({ status: statuses.get(service) || 'SERVICE_UNKNOWN' });
  },
};

// --- echo --------------------------------------------------------------------------------------
const echo = {
  async unary(call, callback) {
    const msg = call.request;
    const set = /^set-health (\S*) (\S+)$/.exec(msg.text);
    if (set) {
      setHealth(set[1] === '-' ? '' : set[1], set[2]);
      return callback(null, { text: 'ok' });
    }
    const gathering = /^gather (\S+) (\d+)$/.exec(msg.text);
    if (gathering) {
      const leave = gatherings.join(gathering[1], Number(gathering[2]), () => callback(null, { text: `gathered ${gathering[2]}` }));
      return call.on('cancelled', leave);
    }
    if (!(await delay(call, msg.delayMs, 'Echo/Unary', msg.text))) return;
    const fail = failure(msg);
    if (fail) return callback(fail);
    const extra = call.metadata.get('x-echo');
    const reply = { text: msg.text + (extra.length ? '|' + extra[0] : ''), payload: msg.payload };
    const [wanted] = call.metadata.get('x-want-trailer');
    if (wanted === undefined) return callback(null, reply);
    const headers = new grpc.Metadata();
    headers.set('x-header-echo', wanted);
    call.sendMetadata(headers);
    const trailers = new grpc.Metadata();
    trailers.set('x-trailer-echo', wanted);
    trailers.set('x-trailer-bin', Buffer.from([0, 1, 2, 0xfe, 0xff]));
    callback(null, reply, trailers);
  },
  async serverStream(call) {
    const msg = call.request;
    for (let i = 0; i < msg.repeat; i++) call.write({ text: `${msg.text}-${i}`, payload: msg.payload });
    if (!(await delay(call, msg.delayMs, 'Echo/ServerStream', msg.text))) return;
    const fail = failure(msg);
    if (fail) return call.emit('error', fail); // grpc-js sends it as the status
    call.end();
  },
  clientStream(call, callback) {
    const texts = [];
    const digests = [];
    let bytes = 0;
    let failed = null;
    call.on('data', (msg) => {
      texts.push(msg.text);
      bytes += msg.payload.length;
      digests.push(crypto.createHash('sha256').update(msg.payload).digest());
      failed = failed || failure(msg);
    });
    call.on('end', () => {
      if (failed) callback(failed);
      else callback(null, { text: texts.join(','), repeat: texts.length, delayMs: bytes, payload: bytes ? Buffer.concat(digests) : Buffer.alloc(0) });
    });
  },
  bidi(call) {
    // Replies go out in request order even when one of them waits.
    let chain = Promise.resolve(true);
    call.on('data', (msg) => {
      chain = chain.then(async (alive) => {
        if (!alive) return false;
        if (!(await delay(call, msg.delayMs, 'Echo/Bidi', msg.text))) return false;
        const fail = failure(msg);
        if (fail) {
          call.emit('error', fail);
          return false;
        }
        call.write({ text: msg.text, payload: msg.payload });
        return true;
      });
    });
    call.on('end', () => chain.then((alive) => alive && call.end()));
  },
};

// One server per message limit, each on its own port, both serving the same handlers.
function serve(maxMessageBytes, label) {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
  });
  server.addService(Echo.service, echo);
  server.addService(Health.service, health);
  server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`bind failed: ${err.message}\n`);
      process.exit(2);
    }
    process.stdout.write(`${label} ${port}\n`);
  });
  return server;
}

const servers = [serve(4 * 1024 * 1024, 'listening'), serve(16 * 1024 * 1024, 'listening-large')];
// The test closes stdin (or dies): the peer must not outlive it.
process.stdin.on('end', () => {
  servers.forEach((s) => s.forceShutdown());
  process.exit(0);
});
process.stdin.resume();
