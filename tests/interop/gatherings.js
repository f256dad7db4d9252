// Requests of one group are held until n of them are open at the same time, then all are answered.
// One that closes first leaves its group, so a group answered means n requests were open at once:
// what the tests of concurrent streams count on, on any server (server.js, h2.js).
'use strict';

class Gatherings {
  constructor(onGathered) {
    this.groups = new Map(); // group -> Set of release functions
    this.onGathered = onGathered;
  }

  // Holds one request; returns the function that takes it out of its group when it closes first.
  join(group, n, release) {
    if (!this.groups.has(group)) this.groups.set(group, new Set());
    const waiting = this.groups.get(group);
    waiting.add(release);
    if (waiting.size >= n) {
      this.groups.delete(group);
      this.onGathered(group);
      for (const r of waiting) r();
    }
    return () => waiting.delete(release);
  }
}

module.exports = { Gatherings };
