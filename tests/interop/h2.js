// A plain HTTP/2 peer on Node's http2 module (h2c, prior knowledge), no gRPC:
//   `node h2.js server`                    an app: prints "listening <port>", then "event <what> <path> <tag>"
//                                          lines; it exits when its stdin ends.
//   `node h2.js client <scenario> <host:port>`  one scenario on ONE session (conventions in scenario.js).
// Server routes:
//   GET  /headers            200, the request's headers as JSON, and x-from-app: node
//   POST /echo               the body streamed back as it arrives; trailers x-received-bytes, x-received-sha256
//   POST /sha256             "<bytes> <sha256 hex>" of the body, and the request's trailers as JSON
//   GET  /bytes?n=N          N random bytes; their SHA-256 in the x-sha256 header
//   GET  /trailers           a body, then trailers x-trailer-one and x-body-sha256
//   GET  /gather?id=G&n=N    held until N streams of group G are open at once, then "gathered N"
//   GET  /hold?tag=T&head=H  held (with H=1 after a 200 head and a first line) until the client resets it
//   GET  /state?tag=T        what /hold saw: waiting, then "closed aborted=<bool> rst=<code> answered=<bool>"
//   GET  /reset?tag=T&head=H a held stream (H=1: after a 200 head and a first line) ...
//   GET  /do-reset?tag=T     ... that this resets (RST_STREAM INTERNAL_ERROR)
'use strict';
const http2 = require('http2');
const crypto = require('crypto');
const { expect, sha256, uniqueTag, until, run } = require('./scenario');
const { Gatherings } = require('./gatherings');

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;
const TEN_MB = 10 * 1024 * 1024;
// Node's default (10 MB of buffered frames per session) would answer 1000 open streams with
// ENHANCE_YOUR_CALM: the peer must not be the limit under test.
const sessionOptions = { maxSessionMemory: 256, settings: { maxConcurrentStreams: 4096 } };

// --- server ------------------------------------------------------------------------------------
function serve() {
  const event = (what, path, tag) => process.stdout.write(`event ${what} ${path} ${tag}\n`);
  const held = new Map(); // tag -> what /hold saw
  const resets = new Map(); // tag -> stream waiting for /do-reset
  const gatherings = new Gatherings((group) => event('gathered', '/gather', group));

  const readBody = (stream) => new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    let trailers = null;
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    stream.on('end', () => resolve({ bytes, sha256: hash.digest('hex'), trailers }));
    stream.on('error', reject);
  });

  const answer = (stream, status, body, headers = {}) => {
    if (stream.destroyed) return;
    stream.respond({ ':status': status, 'content-type': 'text/plain', ...headers });
    stream.end(body);
  };

  const routes = {
    '/headers': (stream, headers) => answer(stream, 200, JSON.stringify(headers), { 'content-type': 'application/json', 'x-from-app': 'node' }),

    '/echo': (stream) => {
      const hash = crypto.createHash('sha256');
      let bytes = 0;
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-received-bytes': String(bytes), 'x-received-sha256': hash.digest('hex') }));
      stream.on('data', (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (!stream.write(chunk)) {
          stream.pause();
          stream.once('drain', () => stream.resume());
        }
      });
      stream.on('end', () => stream.end());
    },

    '/sha256': async (stream) => {
      const body = await readBody(stream);
      answer(stream, 200, `${body.bytes} ${body.sha256}`, { 'x-request-trailers': JSON.stringify(body.trailers || {}) });
    },

    '/bytes': (stream, headers, query) => {
      const bytes = crypto.randomBytes(Number(query.get('n')));
      stream.respond({ ':status': 200, 'content-type': 'application/octet-stream', 'x-sha256': sha256(bytes) });
      stream.end(bytes);
    },

    '/trailers': (stream) => {
      const body = 'the body before the trailers\n';
      stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-trailer-one': 'first', 'x-body-sha256': sha256(body) }));
      stream.end(body);
    },

    '/gather': (stream, headers, query) => {
      const n = Number(query.get('n'));
      stream.on('close', gatherings.join(query.get('id'), n, () => answer(stream, 200, `gathered ${n}`)));
    },

    '/hold': (stream, headers, query) => {
      const tag = query.get('tag');
      let aborted = false;
      let answered = false;
      held.set(tag, 'waiting');
      event('waiting', '/hold', tag);
      if (query.get('head') === '1') {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' });
        stream.write('held\n');
      }
      // Never answered on its own within a test's time: only the client's reset ends it.
      const timer = setTimeout(() => ((answered = true), stream.end('released\n')), 60000);
      stream.on('aborted', () => (aborted = true));
      stream.on('error', () => {});
      stream.on('close', () => {
        clearTimeout(timer);
        const state = `closed aborted=${aborted} rst=${stream.rstCode} answered=${answered}`;
        held.set(tag, state);
        event(aborted ? 'aborted' : 'closed', '/hold', `${tag} ${state}`);
      });
    },

    '/state': (stream, headers, query) => answer(stream, 200, held.get(query.get('tag')) || 'unknown'),

    '/reset': (stream, headers, query) => {
      const tag = query.get('tag');
      stream.on('error', () => {});
      if (query.get('head') === '1') {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' });
        stream.write('partial\n');
      }
      resets.set(tag, stream);
    },

    '/do-reset': (stream, headers, query) => {
      const target = resets.get(query.get('tag'));
      resets.delete(query.get('tag'));
      if (!target) return answer(stream, 404, 'no such stream');
      // destroy, not close(code): close ends the body first (END_STREAM) when the request is complete,
      // and only then sends RST_STREAM, which the client then ignores.
      target.destroy(new Error('reset by the app'));
      event('reset', '/reset', query.get('tag'));
      answer(stream, 200, 'reset');
    },
  };

  const server = http2.createServer(sessionOptions);
  server.on('stream', (stream, headers) => {
    const url = new URL(headers[':path'], 'http://app');
    const route = routes[url.pathname];
    if (!route) return answer(stream, 404, `no route ${url.pathname}`);
    Promise.resolve(route(stream, headers, url.searchParams)).catch((err) => answer(stream, 500, err.message));
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
  // The test closes stdin (or dies): the peer must not outlive it.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

// --- client ------------------------------------------------------------------------------------
// Everything one stream showed: status, headers, body, trailers, and how it ended.
function exchange(session, headers, body, { trailers } = {}) {
  return new Promise((resolve) => {
    const req = session.request(headers, trailers ? { waitForTrailers: true } : {});
    const seen = { status: 0, headers: null, chunks: [], trailers: null, ended: false, error: null, rstCode: null };
    if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
    req.on('response', (h) => ((seen.headers = h), (seen.status = h[':status'])));
    req.on('trailers', (t) => (seen.trailers = t));
    req.on('data', (chunk) => seen.chunks.push(chunk));
    req.on('end', () => (seen.ended = true));
    req.on('error', (err) => (seen.error = err.code || err.message));
    req.on('close', () => {
      seen.rstCode = req.rstCode;
      seen.body = Buffer.concat(seen.chunks);
      delete seen.chunks;
      resolve(seen);
    });
    req.end(body);
  });
}

const get = (session, path) => exchange(session, { ':method': 'GET', ':path': path });
const post = (session, path, body, options) => exchange(session, { ':method': 'POST', ':path': path }, body, options);

// Resets a stream /hold holds, then waits until /state says the app saw it aborted, unanswered.
async function resetHeld(session, req, tag) {
  req.close(NGHTTP2_CANCEL);
  const state = await until(`the app to see the stream ${tag} closed`, 10000, async () => {
    const seen = (await get(session, `/state?tag=${tag}`)).body.toString();
    return seen.startsWith('closed') ? seen : undefined;
  });
  expect(state.startsWith('closed aborted=true') && state.endsWith('answered=false'), 'the app to see the stream aborted, unanswered', state);
  return { tag, state };
}

// The first response line of a held stream, then the stream itself, still open.
function openHeld(session, path) {
  const req = session.request({ ':method': 'GET', ':path': path });
  req.on('error', () => {});
  req.end();
  return new Promise((resolve, reject) => {
    req.once('data', () => resolve(req));
    req.on('close', () => reject(new Error(`the held stream ${path} closed early (rst ${req.rstCode})`)));
  });
}

function clientScenarios(session) {
  return {
    async headers() {
      const r = await exchange(session, { ':method': 'GET', ':path': '/headers?q=1', 'x-h2-test': 'value one', 'x-h2-other': 'two' });
      const echoed = JSON.parse(r.body.toString());
      expect(r.status === 200 && r.ended && r.headers['x-from-app'] === 'node', '200 with x-from-app: node', { status: r.status, headers: r.headers });
      expect(echoed['x-h2-test'] === 'value one' && echoed['x-h2-other'] === 'two', 'the request headers echoed', echoed);
      expect(echoed[':path'] === '/headers?q=1' && echoed[':method'] === 'GET', 'the :path and :method echoed', echoed);
      return { echoed: { 'x-h2-test': echoed['x-h2-test'], 'x-h2-other': echoed['x-h2-other'] } };
    },

    async 'upload-10mb'() {
      const body = crypto.randomBytes(TEN_MB);
      const r = await post(session, '/echo', body);
      expect(r.status === 200 && r.ended, 'a complete 200', { status: r.status, error: r.error, rst: r.rstCode });
      expect(r.trailers && r.trailers['x-received-sha256'] === sha256(body) && r.trailers['x-received-bytes'] === String(TEN_MB),
        'the app to receive the same 10 MB', r.trailers);
      expect(r.body.length === TEN_MB && sha256(r.body) === sha256(body), 'the same 10 MB echoed back', r.body.length);
      return { bytes: r.body.length, sha256: sha256(body) };
    },

    async 'download-10mb'() {
      const r = await get(session, `/bytes?n=${TEN_MB}`);
      expect(r.status === 200 && r.ended && r.body.length === TEN_MB, 'a complete 10 MB answer', { status: r.status, bytes: r.body.length, error: r.error });
      expect(sha256(r.body) === r.headers['x-sha256'], 'the body the app hashed', { got: sha256(r.body), app: r.headers['x-sha256'] });
      return { bytes: r.body.length };
    },

    async 'response-trailers'() {
      const r = await get(session, '/trailers');
      expect(r.status === 200 && r.ended, 'a complete 200', r);
      expect(r.trailers && r.trailers['x-trailer-one'] === 'first' && r.trailers['x-body-sha256'] === sha256(r.body),
        'trailers x-trailer-one: first and the body\'s SHA-256', r.trailers);
      return { trailers: { 'x-trailer-one': r.trailers['x-trailer-one'] } };
    },

    // A request body ended by trailers: the body must arrive whole and the exchange complete. Whether
    // the trailers themselves reach the app is reported (appTrailers), not asserted: docs/proxy.md
    // promises response trailers only.
    async 'request-trailers'() {
      const body = crypto.randomBytes(256 * 1024);
      const r = await post(session, '/sha256', body, { trailers: { 'x-request-trailer': 'sent' } });
      expect(r.status === 200 && r.ended, 'a complete 200', { status: r.status, error: r.error, rst: r.rstCode });
      expect(r.body.toString() === `${body.length} ${sha256(body)}`, 'the app to receive the whole body', r.body.toString());
      return { appTrailers: JSON.parse(r.headers['x-request-trailers']) };
    },

    // 1000 streams on this one session, all open at once at the app before any is answered.
    async 'concurrent-1000'() {
      const n = 1000;
      const group = uniqueTag('gather');
      const answers = await Promise.all(Array.from({ length: n }, () => get(session, `/gather?id=${group}&n=${n}`)));
      const wrong = answers.filter((r) => r.status !== 200 || !r.ended || r.body.toString() !== `gathered ${n}`);
      expect(wrong.length === 0, `all ${n} streams answered "gathered ${n}"`,
        { wrong: wrong.length, first: wrong.slice(0, 3).map((r) => ({ status: r.status, error: r.error, rst: r.rstCode, body: r.body.toString().slice(0, 80) })) });
      return { streams: n, peerMaxConcurrentStreams: session.remoteSettings.maxConcurrentStreams };
    },

    // The client resets a stream the app holds before answering: the app sees it aborted, unanswered.
    async 'client-reset-before-head'() {
      const tag = uniqueTag('hold');
      const req = session.request({ ':method': 'GET', ':path': `/hold?tag=${tag}&head=0` });
      req.on('error', () => {});
      req.end();
      await until('the app to hold the stream', 10000, async () =>
        ((await get(session, `/state?tag=${tag}`)).body.toString() === 'waiting' ? true : undefined));
      return resetHeld(session, req, tag);
    },

    // The same once the app's answer has begun (head and a first line at the client).
    async 'client-reset-mid-body'() {
      const tag = uniqueTag('hold');
      return resetHeld(session, await openHeld(session, `/hold?tag=${tag}&head=1`), tag);
    },

    // The app resets its stream after its head and a first line: the client must see the stream
    // fail, never a complete answer.
    async 'server-reset-mid-body'() {
      const tag = uniqueTag('reset');
      const req = await openHeld(session, `/reset?tag=${tag}&head=1`);
      const outcome = new Promise((resolve) => {
        const seen = { ended: false, error: null };
        req.on('end', () => (seen.ended = true));
        req.on('error', (err) => (seen.error = err.code || err.message));
        req.on('close', () => resolve({ ...seen, rstCode: req.rstCode }));
        req.resume();
      });
      const trigger = await get(session, `/do-reset?tag=${tag}`);
      expect(trigger.status === 200, 'the app to reset the stream', trigger.body.toString());
      const seen = await outcome;
      expect(!seen.ended && seen.rstCode !== NGHTTP2_NO_ERROR, 'the stream reset, not ended', seen);
      return seen;
    },

    // The app resets its stream before any head: docs/proxy.md's 503 upstream_reset.
    async 'server-reset-before-head'() {
      const tag = uniqueTag('reset');
      const pending = get(session, `/reset?tag=${tag}&head=0`);
      // /do-reset answers 404 until the app holds the stream.
      await until('the app to reset the stream', 10000, async () =>
        ((await get(session, `/do-reset?tag=${tag}`)).status === 200 ? true : undefined));
      const r = await pending;
      expect(r.status === 503 && r.headers['x-weft-reason'] === 'upstream_reset', '503 with x-weft-reason: upstream_reset',
        { status: r.status, headers: r.headers, error: r.error, rst: r.rstCode });
      return { status: r.status };
    },
  };
}

function client() {
  const address = process.argv[3];
  const session = http2.connect(`http://${address}`, sessionOptions);
  session.on('error', () => {});
  const scenarios = clientScenarios(session);
  // Each scenario runs once the peer's SETTINGS are in, on this session only.
  const wrapped = {};
  for (const [name, body] of Object.entries(scenarios)) {
    wrapped[name] = () => new Promise((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    }).then(body);
  }
  run(wrapped);
}

process.argv.splice(2, 1)[0] === 'server' ? serve() : client();
