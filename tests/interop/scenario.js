// What the interop client scripts share (`node <script> <scenario> <host:port>`): progress as
// "step ..." lines, the outcome as one final "result <json>" line, and exit code 0 only when
// everything the scenario expects was seen. Scenarios that need the test to act halfway print a
// step and wait for a line on stdin ("go").
'use strict';
const crypto = require('crypto');
const readline = require('readline');

const step = (text) => process.stdout.write(`step ${text}\n`);

function expect(condition, what, actual) {
  if (!condition) throw new Error(`expected ${what}, got ${JSON.stringify(actual)}`);
}

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

// A name no other run uses, so a test can pick this run's lines out of a long-lived server's output.
const uniqueTag = (scenario) => `${scenario}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;

// stdin is only read by scenarios that wait for the test, so the others never hold it open.
let lines = null;
let lineWaiter = null;
function nextLine() {
  if (!lines) {
    lines = [];
    readline.createInterface({ input: process.stdin })
      .on('line', (line) => (lineWaiter ? (lineWaiter(line), (lineWaiter = null)) : lines.push(line)));
  }
  return lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => (lineWaiter = r));
}

// Polls until check() returns a value other than undefined: waiting on a condition, with a deadline.
async function until(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function run(scenarios) {
  const scenario = process.argv[2];
  Promise.resolve()
    .then(() => {
      const body = scenarios[scenario];
      if (!body) throw new Error(`unknown scenario ${scenario}; known: ${Object.keys(scenarios).join(', ')}`);
      return body();
    })
    .then(
      (result) => {
        process.stdout.write(`result ${JSON.stringify({ ok: true, scenario, ...result })}\n`);
        process.exit(0);
      },
      (err) => {
        process.stdout.write(`result ${JSON.stringify({ ok: false, scenario, error: err.message, code: err.code, details: err.details })}\n`);
        process.exit(1);
      });
}

module.exports = { step, expect, sha256, uniqueTag, nextLine, until, run };
