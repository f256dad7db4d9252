// The interop peer's server: Echo (delay/fail/repeat behaviours from EchoMessage, same as Weft's test
// EchoService) and grpc.health.v1.Health. Prints "listening <port>" once bound, then one
// "event <what> <method>" line per thing a test may want to wait for (e.g. a call being cancelled).
// Health statuses are changed through Echo.Unary with text "set-health <service> <STATUS>".
'use strict';
const { grpc, Echo, Health } = require('./proto');

const host = process.argv[2] || '127.0.0.1';

function event(what, method) {
  process.stdout.write(`event ${what} ${method}\n`);
}

// Waits delayMs unless the call is cancelled first; resolves false when cancelled.
function delay(call, ms, method) {
  if (!ms || ms <= 0) return Promise.resolve(true);
  event('waiting', method);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    call.on('cancelled', () => {
      clearTimeout(timer);
      event('cancelled', method);
      resolve(false);
    });
  });
}

function failure(msg) {
  return msg.failCode ? { code: msg.failCode, details: 'failed: ' + msg.text } : null;
}

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
    if (!(await delay(call, msg.delayMs, 'Echo/Unary'))) return;
    const fail = failure(msg);
    if (fail) return callback(fail);
    const extra = call.metadata.get('x-echo');
    callback(null, { text: msg.text + (extra.length ? '|' + extra[0] : ''), payload: msg.payload });
  },
  async serverStream(call) {
    const msg = call.request;
    for (let i = 0; i < msg.repeat; i++) call.write({ text: `${msg.text}-${i}`, payload: msg.payload });
    if (!(await delay(call, msg.delayMs, 'Echo/ServerStream'))) return;
    const fail = failure(msg);
    if (fail) return call.emit('error', fail); // grpc-js sends it as the status
    call.end();
  },
  clientStream(call, callback) {
    const texts = [];
    let bytes = 0;
    let failed = null;
    call.on('data', (msg) => {
      texts.push(msg.text);
      bytes += msg.payload.length;
      failed = failed || failure(msg);
    });
    call.on('end', () => {
      if (failed) callback(failed);
      else callback(null, { text: texts.join(','), repeat: texts.length, delayMs: bytes });
    });
  },
  bidi(call) {
    // Replies go out in request order even when one of them waits.
    let chain = Promise.resolve(true);
    call.on('data', (msg) => {
      chain = chain.then(async (alive) => {
        if (!alive) return false;
        if (!(await delay(call, msg.delayMs, 'Echo/Bidi'))) return false;
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

const server = new grpc.Server({
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.max_send_message_length': 4 * 1024 * 1024,
});
server.addService(Echo.service, echo);
server.addService(Health.service, health);
server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`bind failed: ${err.message}\n`);
    process.exit(2);
  }
  process.stdout.write(`listening ${port}\n`);
});
// The test closes stdin (or dies): the peer must not outlive it.
process.stdin.on('end', () => server.forceShutdown() || process.exit(0));
process.stdin.resume();
