// The interop peer's client: `node client.js <scenario> <host:port>`. Runs one scenario against the
// server, prints progress as "step ..." lines and the outcome as one final "result <json>" line, and
// exits 0 only when everything the scenario expects was seen. Scenarios that need the test to act
// halfway print a step and wait for a line on stdin ("go").
'use strict';
const readline = require('readline');
const crypto = require('crypto');
const { grpc, Echo, Health } = require('./proto');

const [scenario, address] = process.argv.slice(2);
const options = {
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.max_send_message_length': 4 * 1024 * 1024,
};
const echo = new Echo(address, grpc.credentials.createInsecure(), options);
const health = new Health(address, grpc.credentials.createInsecure(), options);

const input = readline.createInterface({ input: process.stdin });
const lines = [];
let lineWaiter = null;
input.on('line', (line) => (lineWaiter ? (lineWaiter(line), (lineWaiter = null)) : lines.push(line)));
const nextLine = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => (lineWaiter = r)));

const step = (text) => process.stdout.write(`step ${text}\n`);
const deadlineIn = (ms) => new Date(Date.now() + ms);

function expect(condition, what, actual) {
  if (!condition) throw new Error(`expected ${what}, got ${JSON.stringify(actual)}`);
}

function unary(client, method, request, metadata = new grpc.Metadata(), callOptions = {}) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, callOptions, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

async function expectError(promise, code) {
  try {
    const reply = await promise;
    throw new Error(`expected status ${code}, got reply ${JSON.stringify(reply)}`);
  } catch (err) {
    if (err.code === undefined) throw err;
    expect(err.code === code, `status ${code}`, { code: err.code, details: err.details });
    return err;
  }
}

function readAll(call) {
  return new Promise((resolve, reject) => {
    const messages = [];
    call.on('data', (m) => messages.push(m));
    call.on('error', reject);
    call.on('status', (s) => s.code === grpc.status.OK && resolve(messages));
  });
}

const scenarios = {
  async unary() {
    const md = new grpc.Metadata();
    md.set('x-echo', 'js');
    const reply = await unary(echo, 'unary', { text: 'hi' }, md);
    expect(reply.text === 'hi|js', 'text "hi|js"', reply.text);
    return { text: reply.text };
  },

  async large() {
    const payload = crypto.randomBytes(1024 * 1024);
    const reply = await unary(echo, 'unary', { text: 'big', payload });
    expect(Buffer.compare(reply.payload, payload) === 0, 'the same 1 MB payload back', reply.payload.length);
    return { bytes: reply.payload.length };
  },

  async 'server-stream'() {
    const texts = (await readAll(echo.serverStream({ text: 's', repeat: 3 }))).map((m) => m.text);
    expect(JSON.stringify(texts) === '["s-0","s-1","s-2"]', 's-0..s-2', texts);
    return { texts };
  },

  async 'client-stream'() {
    const reply = await new Promise((resolve, reject) => {
      const call = echo.clientStream((err, r) => (err ? reject(err) : resolve(r)));
      for (const text of ['a', 'b', 'c']) call.write({ text });
      call.end();
    });
    expect(reply.text === 'a,b,c' && reply.repeat === 3, '"a,b,c" x3', reply);
    return { text: reply.text, repeat: reply.repeat };
  },

  async bidi() {
    const call = echo.bidi();
    const replies = [];
    let waiter = null;
    call.on('data', (m) => (waiter ? (waiter(m), (waiter = null)) : replies.push(m)));
    const status = new Promise((resolve, reject) => {
      call.on('status', resolve);
      call.on('error', reject);
    });
    const texts = [];
    for (let i = 0; i < 5; i++) {
      // Ping-pong: the next request only goes out once the previous reply arrived.
      const reply = new Promise((r) => (replies.length ? r(replies.shift()) : (waiter = r)));
      call.write({ text: `m${i}` });
      texts.push((await reply).text);
    }
    call.end();
    const final = await status;
    expect(JSON.stringify(texts) === '["m0","m1","m2","m3","m4"]', 'm0..m4', texts);
    expect(final.code === grpc.status.OK, 'OK', final);
    return { texts };
  },

  async deadline() {
    const err = await expectError(
      unary(echo, 'unary', { text: 'slow', delayMs: 30000 }, new grpc.Metadata(), { deadline: deadlineIn(300) }),
      grpc.status.DEADLINE_EXCEEDED);
    return { code: err.code };
  },

  async error() {
    const text = 'bad é 100%';
    const err = await expectError(unary(echo, 'unary', { text, failCode: grpc.status.PERMISSION_DENIED }), grpc.status.PERMISSION_DENIED);
    expect(err.details === 'failed: ' + text, `details "failed: ${text}"`, err.details);
    return { code: err.code, details: err.details };
  },

  async 'stream-error'() {
    const call = echo.serverStream({ text: 'e', repeat: 2, failCode: grpc.status.ABORTED });
    const texts = [];
    call.on('data', (m) => texts.push(m.text));
    const err = await new Promise((resolve) => call.on('error', resolve));
    expect(err.code === grpc.status.ABORTED && texts.length === 2, 'ABORTED after 2 messages', { code: err.code, texts });
    return { code: err.code, texts };
  },

  async unimplemented() {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    const err = await new Promise((resolve) =>
      client.makeUnaryRequest('/shop.v1.Echo/Nope', (x) => x, (x) => x, Buffer.alloc(0), (e) => resolve(e)));
    expect(err && err.code === grpc.status.UNIMPLEMENTED, 'UNIMPLEMENTED', err && err.code);
    return { code: err.code };
  },

  async cancel() {
    const call = echo.bidi();
    const done = new Promise((resolve) => call.on('error', resolve));
    call.write({ text: 'wait', delayMs: 30000 });
    step('sent');
    await nextLine(); // the test saw the handler waiting
    call.cancel();
    const err = await done;
    expect(err.code === grpc.status.CANCELLED, 'CANCELLED', err.code);
    return { code: err.code };
  },

  async 'health-check'() {
    const whole = await unary(health, 'check', { service: '' });
    expect(whole.status === 'SERVING', 'SERVING', whole.status);
    const err = await expectError(unary(health, 'check', { service: 'no.such.Service' }), grpc.status.NOT_FOUND);
    return { status: whole.status, unknown: err.code };
  },

  async 'health-watch'() {
    const call = health.watch({ service: 'shop.v1.Ratings' });
    const seen = [];
    let waiter = null;
    call.on('data', (m) => (waiter ? (waiter(m), (waiter = null)) : seen.push(m)));
    call.on('error', () => {});
    const next = () => new Promise((r) => (seen.length ? r(seen.shift()) : (waiter = r)));
    const first = (await next()).status;
    expect(first === 'SERVICE_UNKNOWN', 'SERVICE_UNKNOWN first', first);
    step('watching');
    await nextLine(); // the test changed the status
    const second = (await next()).status;
    expect(second === 'SERVING', 'SERVING after the change', second);
    call.cancel();
    return { statuses: [first, second] };
  },
};

async function main() {
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(', ')}`);
  return run();
}

main().then(
  (result) => {
    process.stdout.write(`result ${JSON.stringify({ ok: true, scenario, ...result })}\n`);
    process.exit(0);
  },
  (err) => {
    process.stdout.write(`result ${JSON.stringify({ ok: false, scenario, error: err.message, code: err.code, details: err.details })}\n`);
    process.exit(1);
  });
