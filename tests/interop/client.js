// The interop peer's client: `node client.js <scenario> <host:port>` (conventions in scenario.js).
'use strict';
const crypto = require('crypto');
const { grpc, Echo, Health } = require('./proto');
const { step, expect, sha256, uniqueTag, nextLine, run } = require('./scenario');

const [scenario, address] = process.argv.slice(2);
const channelOptions = (maxMessageBytes) => ({
  'grpc.max_receive_message_length': maxMessageBytes,
  'grpc.max_send_message_length': maxMessageBytes,
});
const options = channelOptions(4 * 1024 * 1024);
const echo = new Echo(address, grpc.credentials.createInsecure(), options);
const health = new Health(address, grpc.credentials.createInsecure(), options);

const TEN_MB = 10 * 1024 * 1024;
// Only the 10 MB scenarios raise the limits (server.js's second port raises them too).
const largeEcho = () => new Echo(address, grpc.credentials.createInsecure(), channelOptions(16 * 1024 * 1024));

const deadlineIn = (ms) => new Date(Date.now() + ms);

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

// server.js's failures carry x-failed-by and x-failed-text-bin (the request's text as UTF-8 bytes).
function expectFailureMetadata(metadata, text) {
  const by = metadata.get('x-failed-by')[0];
  const bin = metadata.get('x-failed-text-bin')[0];
  expect(by === 'server.js', 'trailing x-failed-by: server.js', metadata.getMap());
  expect(Buffer.isBuffer(bin) && bin.toString('utf8') === text, `trailing x-failed-text-bin "${text}"`, bin && bin.toString('utf8'));
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

  // --- through two sidecars, against server.js (its behaviours: see there) -------------------

  async 'large-10mb-unary'() {
    const payload = crypto.randomBytes(TEN_MB);
    const reply = await unary(largeEcho(), 'unary', { text: 'big', payload });
    expect(reply.payload.length === TEN_MB && sha256(reply.payload) === sha256(payload), 'the same 10 MB back', reply.payload.length);
    return { bytes: reply.payload.length, sha256: sha256(reply.payload) };
  },

  async 'large-10mb-server-stream'() {
    const payload = crypto.randomBytes(TEN_MB);
    const replies = await readAll(largeEcho().serverStream({ text: 'big', repeat: 3, payload }));
    const hashes = replies.map((m) => sha256(m.payload));
    expect(replies.length === 3 && hashes.every((h) => h === sha256(payload)), '3 messages of the same 10 MB', { count: replies.length, hashes });
    return { messages: replies.length, sha256: sha256(payload) };
  },

  async 'large-10mb-client-stream'() {
    const payloads = [0, 1, 2].map(() => crypto.randomBytes(TEN_MB));
    const reply = await new Promise((resolve, reject) => {
      const call = largeEcho().clientStream((err, r) => (err ? reject(err) : resolve(r)));
      payloads.forEach((payload, i) => call.write({ text: `p${i}`, payload }));
      call.end();
    });
    // server.js answers a client stream with the SHA-256 of each payload it received, in order.
    const sent = payloads.map((p) => sha256(p));
    const received = [0, 1, 2].map((i) => reply.payload.subarray(i * 32, i * 32 + 32).toString('hex'));
    expect(reply.text === 'p0,p1,p2' && reply.delayMs === 3 * TEN_MB && JSON.stringify(received) === JSON.stringify(sent),
      'three 10 MB messages received whole', { text: reply.text, bytes: reply.delayMs, received, sent });
    return { messages: 3, bytes: reply.delayMs };
  },

  // 1000 calls on one channel (one HTTP/2 connection): server.js holds each until all 1000 are open.
  async 'concurrent-1000'() {
    const n = 1000;
    const group = uniqueTag('gather');
    const calls = Array.from({ length: n }, () =>
      unary(echo, 'unary', { text: `gather ${group} ${n}` }, new grpc.Metadata(), { deadline: deadlineIn(20000) }).then(
        (reply) => reply.text,
        (err) => `status ${err.code}: ${err.details}`));
    const answers = await Promise.all(calls);
    const wrong = answers.filter((a) => a !== `gathered ${n}`);
    expect(wrong.length === 0, `all ${n} calls open at once, then OK`, { wrong: wrong.length, first: wrong.slice(0, 3) });
    return { calls: n };
  },

  // The client cancels a server stream after its first messages: server.js prints "event cancelled".
  async 'cancel-stream'() {
    const tag = uniqueTag('cancel');
    const call = echo.serverStream({ text: tag, repeat: 2, delayMs: 30000 });
    const texts = [];
    const err = await new Promise((resolve) => {
      call.on('error', resolve);
      call.on('data', (m) => {
        texts.push(m.text);
        if (texts.length === 2) call.cancel();
      });
    });
    expect(err.code === grpc.status.CANCELLED && texts.length === 2, 'CANCELLED after 2 messages', { code: err.code, texts });
    return { tag, texts };
  },

  // A deadline ends the call at about its time, not at the server's 30 s.
  async 'deadline-window'() {
    const tag = uniqueTag('deadline');
    const started = Date.now();
    const err = await expectError(
      unary(echo, 'unary', { text: tag, delayMs: 30000 }, new grpc.Metadata(), { deadline: deadlineIn(500) }),
      grpc.status.DEADLINE_EXCEEDED);
    const elapsedMs = Date.now() - started;
    expect(elapsedMs >= 450 && elapsedMs < 2500, 'DEADLINE_EXCEEDED between 450 and 2500 ms', elapsedMs);
    return { tag, code: err.code, elapsedMs };
  },

  async 'deadline-stream'() {
    const tag = uniqueTag('deadline');
    const started = Date.now();
    const call = echo.serverStream({ text: tag, repeat: 2, delayMs: 30000 }, new grpc.Metadata(), { deadline: deadlineIn(800) });
    const texts = [];
    call.on('data', (m) => texts.push(m.text));
    const err = await new Promise((resolve) => call.on('error', resolve));
    const elapsedMs = Date.now() - started;
    expect(err.code === grpc.status.DEADLINE_EXCEEDED && texts.length === 2, 'DEADLINE_EXCEEDED after 2 messages', { code: err.code, texts });
    expect(elapsedMs >= 750 && elapsedMs < 2800, 'the end between 750 and 2800 ms', elapsedMs);
    return { tag, texts, elapsedMs };
  },

  // Trailers-only answers (a status and no message), unary and server-streaming, with UTF-8 details
  // and server.js's custom trailing metadata.
  async 'trailers-only'() {
    const text = 'échec ✓ 日本語 100% \t"quoted"';
    const unaryErr = await expectError(unary(echo, 'unary', { text, failCode: grpc.status.FAILED_PRECONDITION }), grpc.status.FAILED_PRECONDITION);
    const call = echo.serverStream({ text, repeat: 0, failCode: grpc.status.OUT_OF_RANGE });
    let messages = 0;
    call.on('data', () => messages++);
    const streamErr = await new Promise((resolve) => call.on('error', resolve));
    for (const [err, code] of [[unaryErr, grpc.status.FAILED_PRECONDITION], [streamErr, grpc.status.OUT_OF_RANGE]]) {
      expect(err.code === code && err.details === 'failed: ' + text, `status ${code} with details "failed: ${text}"`, { code: err.code, details: err.details });
      expectFailureMetadata(err.metadata, text);
    }
    expect(messages === 0, 'no message', messages);
    return { codes: [unaryErr.code, streamErr.code], details: unaryErr.details };
  },

  // Custom metadata both ways: request metadata reaches the server, which answers with it in its
  // response headers and its trailers (text and binary).
  async 'trailing-metadata'() {
    const md = new grpc.Metadata();
    md.set('x-want-trailer', 'ping-42');
    const got = {};
    const call = echo.unary({ text: 'md' }, md, (err, reply) => (got.reply = err || reply));
    call.on('metadata', (m) => (got.headers = m));
    const status = await new Promise((resolve) => call.on('status', resolve));
    expect(status.code === grpc.status.OK && got.reply.text === 'md', 'OK with the reply', { code: status.code, reply: got.reply });
    expect(got.headers && got.headers.get('x-header-echo')[0] === 'ping-42', 'x-header-echo: ping-42 in the response headers', got.headers && got.headers.getMap());
    const trailer = status.metadata.get('x-trailer-echo')[0];
    const binary = status.metadata.get('x-trailer-bin')[0];
    expect(trailer === 'ping-42', 'x-trailer-echo: ping-42 in the trailers', status.metadata.getMap());
    expect(Buffer.isBuffer(binary) && binary.equals(Buffer.from([0, 1, 2, 0xfe, 0xff])), 'x-trailer-bin 00 01 02 fe ff', binary);
    return { trailer, binary: binary.toString('hex') };
  },

  // The server fails a bidi call after two exchanges: the client gets both replies, then the status.
  async 'error-mid-bidi'() {
    const text = 'perdu — ✗ à mi-chemin';
    const call = echo.bidi();
    const texts = [];
    call.on('data', (m) => texts.push(m.text));
    const err = await new Promise((resolve) => {
      call.on('error', resolve);
      call.write({ text: 'm0' });
      call.write({ text: 'm1' });
      call.write({ text, failCode: grpc.status.DATA_LOSS });
    });
    expect(err.code === grpc.status.DATA_LOSS && err.details === 'failed: ' + text, 'DATA_LOSS with its details', { code: err.code, details: err.details });
    expect(JSON.stringify(texts) === '["m0","m1"]', 'm0, m1 before the status', texts);
    expectFailureMetadata(err.metadata, text);
    return { code: err.code, texts };
  },

  // Each path given after the address, called as Echo's unary method whatever the path says (as a
  // client can): the status and details each call got, in order.
  async paths() {
    const { requestSerialize, responseDeserialize } = Echo.service.Unary;
    const calls = [];
    for (const path of process.argv.slice(4)) {
      calls.push(await new Promise((resolve) => {
        try {
          echo.makeUnaryRequest(path, requestSerialize, responseDeserialize, { text: 'hi' }, new grpc.Metadata(), {},
            (err, reply) => resolve({ path, code: err ? err.code : 0, details: err ? err.details : reply.text }));
        } catch (e) {
          resolve({ path, code: -1, details: `not sent: ${e.message}` });
        }
      }));
    }
    return { calls };
  },
};

run(scenarios);
