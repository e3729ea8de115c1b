--! KEYS: req tok cool mult hdr wreq wtok wst
--! ARGV: op now
-- respq shared rate limiter, the part every limiter script shares (prepended to gcra.lua,
-- window.lua and limiter.lua by worker/limiter.py): keys, clock and helpers. The
-- operation is A.op; gcra.lua reserves by GCRA, window.lua by the sliding window, and
-- limiter.lua holds the rest (cool, settle, r429, hdr).
--
-- Two GCRA budgets (requests, tokens) are checked and advanced together, so a request that one
-- budget blocks leaves the other untouched. The math (why a request's cost is charged after its
-- send time, the pre-wait for large requests, the slack) is explained in limiter.py.
--
-- KEYS (all share one hash tag, so the script is Redis Cluster safe; every limiter script
-- declares them in this order, contract/constants.py LIMIT_KEY_NAMES):
--   req   theoretical arrival time (TAT) of the request budget, seconds as a string
--   tok   TAT of the token budget
--   cool  time until which nobody may send (429 back-off, provider "remaining: 0")
--   mult  hash {m = rate multiplier, n = 429 back-off exponent, ok = success streak}
--   hdr   hash {rpm, tpm} limits announced by the provider's x-ratelimit-* headers
--   wreq  sliding-window mode: zset of sends ("seq:cost" scored by send time), requests
--   wtok  the same for tokens
--   wst   hash {last, seq, req_edge, req_sum, tok_edge, tok_sum}: the latest reserved send
--         time, and per budget the window's left edge and the cost sent after it
-- ARGV: op, then now: the client clock in seconds, or '' to use the Redis server clock;
-- each script declares the arguments of its operations after these two.
--
-- Times are returned as strings: Redis truncates Lua numbers to integers in replies.

local op = A.op
local now
if A.now == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(A.now)
end

local function fmt(x)
  return string.format('%.6f', x)
end

-- The wait before `send`; and, when it is longer than max_wait, the refusal to return:
-- nothing is written, the caller gives its worker slot back and retries later.
local function wait_until(send, now, max_wait)
  local wait = send - now
  if wait > max_wait then return wait, {0, fmt(wait), '', ''} end
  return wait, nil
end

-- tonumber(false) is nil, so a missing key or field falls back to the default
local function num(v, default)
  local x = tonumber(v)
  if x == nil then
    return default
  end
  return x
end

-- the provider's announced limit may only tighten the configured one; 0 means unlimited
local function limit_of(cfg, provider)
  if cfg <= 0 then
    return 0
  end
  if provider > 0 and provider < cfg then
    return provider
  end
  return cfg
end

local function rate_of(limit, margin, mult)
  return limit * (1 - margin) * mult / 60
end

-- the largest cost that may be sent without a pre-wait and still never overshoot a strict
-- sliding 60 s window, arrival jitter included (proof in limiter.py)
local function slack_of(limit, rate, jitter)
  local s = math.floor(limit - 60 * rate - rate * jitter) + 1
  if s < 1 then
    s = 1
  end
  return s
end

-- the rate that leaves room, at the end of any window, for the largest cost sent lately
-- (cmax) plus arrival jitter: then no strict sliding window ever holds more than the limit
-- without every large request paying a pre-wait (proof in limiter.py)
local function rate_for(limit, margin, mult, cmax, jitter)
  local rate = rate_of(limit, margin, mult)
  local fit = (limit - cmax + 1) / (60 + jitter)
  if fit < rate then
    rate = fit
  end
  return rate
end

-- keys outlive their TAT by a minute, so an idle scope costs no memory
local function set_tat(key, tat, tau)
  local ttl = math.ceil((math.max(tat - now, 0) + tau) * 1000) + 60000
  redis.call('SET', key, fmt(tat), 'PX', ttl)
end

local function cooldown_until()
  return num(redis.call('GET', K.cool), 0)
end

local function extend_cooldown(for_seconds)
  local cool = cooldown_until()
  local until_ = math.max(cool, now + for_seconds)
  if until_ > cool then
    redis.call('SET', K.cool, fmt(until_), 'PX', math.ceil((until_ - now) * 1000) + 1000)
  end
  return until_
end

