-- wrk script: latency at a fixed request rate, corrected for coordinated omission.
--
-- Run with one connection per thread, e.g. `wrk -t10 -c10 -d8s -s fixed-rate.lua URL`: each wrk
-- thread has its own Lua state, so each state owns exactly one connection and can pair its requests
-- with their responses.
--
-- One schedule for the whole run: slot k is due at t0 + k * PERIOD. Connection i (of N) takes slots
-- i, i+N, i+2N, ... (1000 req/s over 10 connections = a slot every 1 ms, each connection every 10 ms).
-- request() sleeps (clock_nanosleep, absolute, timer slack 1 ns) until its slot, then wrk writes.
-- A response is timed with CLOCK_MONOTONIC in µs:
--   * from the write, when the connection was free at its slot (the usual case);
--   * from the slot, when the previous response on this connection came after the slot was due
--     (the server held the generator back: coordinated omission); the schedule is never skipped,
--     so a stall shows up as the queue of requests it delayed, as users would see it.
-- Samples of slots due in the first WARM_MS are discarded (connection set-up, first requests).
--
-- Environment: FR_RATE (req/s, default 1000), FR_CONNS (= wrk -t and -c, default 10), FR_WARM_MS (default 1000), FR_OUT (file for the
-- summary line, default stdout only).
-- Output (done): one line `FIXED_RATE {json}` with count, corrected (late-start) count, errors,
-- and p50/p90/p99/p99.9/max in µs.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } fr_timespec;
int clock_gettime(int clk, fr_timespec *ts);
int clock_nanosleep(int clk, int flags, const fr_timespec *req, fr_timespec *rem);
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
]]
local CLOCK_MONOTONIC, TIMER_ABSTIME, PR_SET_TIMERSLACK = 1, 1, 29
local ts = ffi.new("fr_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local function sleep_until(us)
  local req = ffi.new("fr_timespec")
  req.tv_sec = math.floor(us / 1e6)
  req.tv_nsec = math.floor((us - tonumber(req.tv_sec) * 1e6) * 1e3)
  while ffi.C.clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, req, nil) ~= 0 do end -- EINTR: again
end

local rate = tonumber(os.getenv("FR_RATE") or "1000")
local conns = tonumber(os.getenv("FR_CONNS") or "10") -- must equal wrk's -t and -c
local warm_us = tonumber(os.getenv("FR_WARM_MS") or "1000") * 1000
local period_us = 1e6 / rate

-- Main state: hand each thread its index and the shared start time.
local threads = {}
local start_at = nil

function setup(thread)
  if start_at == nil then start_at = now_us() + 300000 end -- every connection is open by then
  table.insert(threads, thread)
  thread:set("fr_index", #threads - 1)
  thread:set("fr_t0", start_at)
end

-- Thread state (one connection). Globals so that done() can read them with thread:get.
samples, late_count, errors = {}, 0, 0
local k, slot, write_at, prev_resp, late = 0, 0, 0, 0, false

function init(args)
  ffi.C.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
end

function request()
  slot = fr_t0 + (fr_index + k * conns) * period_us
  k = k + 1
  local t = now_us()
  if t < slot then
    sleep_until(slot)
    t = now_us()
  end
  late = prev_resp > slot -- the previous response kept this connection busy past its slot
  write_at = t
  return wrk.format()
end

function response(status, headers, body)
  local t = now_us()
  prev_resp = t
  if status ~= 200 then errors = errors + 1 end
  if slot - fr_t0 < warm_us then return end
  if late then late_count = late_count + 1 end
  samples[#samples + 1] = t - (late and slot or write_at)
end

local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local i = math.ceil(p / 100 * #sorted)
  if i < 1 then i = 1 end
  return sorted[i]
end

function done(summary, latency, requests)
  local all, late_total, err_total = {}, 0, 0
  for _, t in ipairs(threads) do
    local s = t:get("samples")
    for _, v in ipairs(s) do all[#all + 1] = v end
    late_total = late_total + (t:get("late_count") or 0)
    err_total = err_total + (t:get("errors") or 0)
  end
  table.sort(all)
  if #threads ~= conns then
    io.stderr:write(string.format("fixed-rate.lua: %d threads but FR_CONNS=%d: run wrk -t%d -c%d\n", #threads, conns, conns, conns))
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local line = string.format(
    '{"count":%d,"late":%d,"non200":%d,"socket_errors":%d,"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"max":%.1f}',
    #all, late_total, err_total, socket_errors,
    percentile(all, 50), percentile(all, 90), percentile(all, 99), percentile(all, 99.9), all[#all] or 0)
  io.write("FIXED_RATE " .. line .. "\n")
  local out = os.getenv("FR_OUT")
  if out and out ~= "" then
    local f = assert(io.open(out, "w"))
    f:write(line .. "\n")
    f:close()
  end
end
