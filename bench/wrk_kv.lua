-- wrk script for bench/kv_bench.sh: cycles over BENCH_KEYS keys,
-- PUT or GET, against lictor's /v1/kv or etcd's v3 JSON gateway.
--   BENCH_TARGET  lictor | etcd
--   BENCH_OP      PUT | GET
--   BENCH_KEYS    number of keys (bench/key00000 ...), default 10000
--   BENCH_VSIZE   value size for PUT, default 256
-- done() prints one RESULT line that kv_bench_lib.py report reads.

local target = os.getenv("BENCH_TARGET") or "lictor"
local op = os.getenv("BENCH_OP") or "GET"
local nkeys = tonumber(os.getenv("BENCH_KEYS") or "10000")
local vsize = tonumber(os.getenv("BENCH_VSIZE") or "256")

local b64chars =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1)
      .. (b and b64chars:sub(c3 + 1, c3 + 1) or "=")
      .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

local function key(i)
  return string.format("bench/key%05d", i)
end

local function value(i, gen)
  local v = string.format("w%05d-%d-", i, gen)
  return string.rep(v, math.floor(vsize / #v) + 1):sub(1, vsize)
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local reqs = {}
local pos = 0
local gen = 0

function init(args)
  -- each thread starts at its own place in the key space
  pos = ((tid or 0) * 7919) % nkeys
  if target == "etcd" then
    for i = 0, nkeys - 1 do
      reqs[i] = b64(key(i))
    end
  end
end

function request()
  local i = pos
  pos = (pos + 1) % nkeys
  if pos == 0 then gen = gen + 1 end
  if target == "lictor" then
    if op == "PUT" then
      return wrk.format("PUT", "/v1/kv/" .. key(i), nil, value(i, gen))
    end
    return wrk.format("GET", "/v1/kv/" .. key(i))
  end
  local hdr = { ["Content-Type"] = "application/json" }
  if op == "PUT" then
    return wrk.format("POST", "/v3/kv/put", hdr,
      '{"key":"' .. reqs[i] .. '","value":"' .. b64(value(i, gen)) .. '"}')
  end
  return wrk.format("POST", "/v3/kv/range", hdr, '{"key":"' .. reqs[i] .. '"}')
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT target=%s op=%s requests=%d duration_s=%.3f rps=%.1f " ..
    "p50_us=%d p99_us=%d mean_us=%.0f errors_status=%d errors_connect=%d " ..
    "errors_read=%d errors_write=%d errors_timeout=%d\n",
    target, op, summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end
