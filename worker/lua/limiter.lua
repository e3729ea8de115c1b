-- respq shared rate limiter: one script, dispatched on ARGV[1], so every worker loads one SHA.
--
-- Two GCRA budgets (requests, tokens) are checked and advanced together, so a request that one
-- budget blocks leaves the other untouched. The math (why a request's cost is charged after its
-- send time, the pre-wait for large requests, the slack) is explained in limiter.py.
--
-- KEYS (all share one hash tag, so the script is Redis Cluster safe):
--   1 req   theoretical arrival time (TAT) of the request budget, seconds as a string
--   2 tok   TAT of the token budget
--   3 cool  time until which nobody may send (429 back-off, provider "remaining: 0")
--   4 mult  hash {m = rate multiplier, n = 429 back-off exponent, ok = success streak}
--   5 hdr   hash {rpm, tpm} limits announced by the provider's x-ratelimit-* headers
--   6 wreq  sliding-window mode: zset of sends ("seq:cost" scored by send time), requests
--   7 wtok  the same for tokens
--   8 wst   hash {last, seq, req_edge, req_sum, tok_edge, tok_sum}: the latest reserved send
--           time, and per budget the window's left edge and the cost sent after it
-- ARGV[1] op, ARGV[2] client clock in seconds, or '' to use the Redis server clock.
--
-- Times are returned as strings: Redis truncates Lua numbers to integers in replies.

local op = ARGV[1]
local now
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[2])
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
  return num(redis.call('GET', KEYS[3]), 0)
end

local function extend_cooldown(for_seconds)
  local cool = cooldown_until()
  local until_ = math.max(cool, now + for_seconds)
  if until_ > cool then
    redis.call('SET', KEYS[3], fmt(until_), 'PX', math.ceil((until_ - now) * 1000) + 1000)
  end
  return until_
end

if op == 'reserve' then
  local rpm, tpm = tonumber(ARGV[3]), tonumber(ARGV[4])
  local burst, margin = tonumber(ARGV[5]), tonumber(ARGV[6])
  local tokens, max_wait, jitter = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  local hdr = redis.call('HMGET', KEYS[5], 'rpm', 'tpm')
  local mult = num(redis.call('HGET', KEYS[4], 'm'), 1)
  local send = math.max(now, cooldown_until())
  local specs = {
    {KEYS[1], limit_of(rpm, num(hdr[1], 0)), 1},
    {KEYS[2], limit_of(tpm, num(hdr[2], 0)), tokens},
  }
  local pending = {}
  -- the largest token cost sent in the last minute, and when it goes out of every window
  local cm = redis.call('HMGET', KEYS[4], 'cmax', 'cmax_at')
  local cmax, cmax_at = num(cm[1], 1), num(cm[2], 0)
  local new_cmax = cmax
  for i, spec in ipairs(specs) do
    local key, limit, cost = spec[1], spec[2], spec[3]
    if limit > 0 and cost > 0 then
      local capacity = limit * math.max(burst, 1)
      if cost > capacity then
        return {-1, fmt(0), tostring(math.floor(capacity)), tostring(limit)}
      end
      local rate = rate_of(limit, margin, mult)
      local tau = burst * limit / rate
      local pre = 0
      if burst <= 0 then
        if i == 2 then
          local largest = cmax
          if cost > cmax then
            -- a cost above the recent largest pays the difference once, as a pre-wait;
            -- from then on the rate leaves room for it
            new_cmax = cost
          elseif now - cmax_at > 60 + jitter then
            -- the largest request has left every window: the rate may rise again
            new_cmax = cost
          end
          rate = rate_for(limit, margin, mult, largest, jitter)
          pre = math.max(0, cost - slack_of(limit, rate, jitter)) / rate
          rate = rate_for(limit, margin, mult, math.max(new_cmax, largest), jitter)
        else
          pre = math.max(0, cost - slack_of(limit, rate, jitter)) / rate
        end
      end
      local start = num(redis.call('GET', key), 0) + pre
      send = math.max(send, start - tau)
      pending[#pending + 1] = {key, start, cost / rate, tau}
    end
  end
  local wait, refused = wait_until(send, now, max_wait)
  if refused then return refused end
  for _, p in ipairs(pending) do
    -- both budgets advance from the common send time
    set_tat(p[1], math.max(p[2], send) + p[3], p[4])
  end
  if #pending > 0 and burst <= 0 and (new_cmax ~= cmax or (tokens >= cmax and send > cmax_at)) then
    redis.call('HSET', KEYS[4], 'cmax', new_cmax, 'cmax_at', fmt(send))
    redis.call('PEXPIRE', KEYS[4], 3600000)
  end
  return {1, fmt(wait), '', ''}

elseif op == 'window' then
  -- Sliding-window mode: admit a request when the cost sent in the 60 s (+ jitter) window
  -- ending at its send time stays within the limit. Send times only increase, so only the
  -- window ending at the new send time needs checking, and each entry crosses the window's
  -- left edge once: amortised O(log n) per request. Nothing is written unless granted.
  local rpm, tpm, margin = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local tokens, max_wait, jitter = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local span = 60 + jitter
  local hdr = redis.call('HMGET', KEYS[5], 'rpm', 'tpm')
  local mult = num(redis.call('HGET', KEYS[4], 'm'), 1)
  local st = redis.call('HMGET', KEYS[8], 'last', 'seq', 'req_edge', 'req_sum', 'tok_edge',
                        'tok_sum')
  local budgets = {
    {key = KEYS[6], name = 'req', limit = limit_of(rpm, num(hdr[1], 0)), cost = 1,
     edge = num(st[3], 0), sum = num(st[4], 0)},
    {key = KEYS[7], name = 'tok', limit = limit_of(tpm, num(hdr[2], 0)), cost = tokens,
     edge = num(st[5], 0), sum = num(st[6], 0)},
  }
  local active = {}
  for _, b in ipairs(budgets) do
    if b.limit > 0 and b.cost > 0 then
      if b.cost > b.limit then
        return {-1, fmt(0), tostring(b.limit), tostring(b.limit)}
      end
      b.cap = b.limit * (1 - margin) * mult
      active[#active + 1] = b
    end
  end
  local function cost_of(member)
    return tonumber(string.match(member, ':(%d+)$')) or 0
  end
  -- move the budget's left edge to at least `to`, then further until the request fits;
  -- returns the earliest send time this budget allows
  local function make_room(b, send)
    local to = send - span
    if to > b.edge then
      for _, m in ipairs(redis.call('ZRANGEBYSCORE', b.key, '(' .. fmt(b.edge), fmt(to))) do
        b.sum = b.sum - cost_of(m)
      end
      b.edge = to
    end
    -- a request larger than the (margin- or 429-reduced) budget goes alone in its window
    while b.sum > 0 and b.sum + b.cost > b.cap do
      local nxt = redis.call('ZRANGEBYSCORE', b.key, '(' .. fmt(b.edge), '+inf', 'WITHSCORES',
                             'LIMIT', 0, 1)
      if #nxt == 0 then
        b.sum = 0
        break
      end
      for _, m in ipairs(redis.call('ZRANGEBYSCORE', b.key, nxt[2], nxt[2])) do
        b.sum = b.sum - cost_of(m)
      end
      b.edge = tonumber(nxt[2])
      send = math.max(send, b.edge + span)
    end
    return send
  end
  local send = math.max(now, num(st[1], 0), cooldown_until())
  for _ = 1, 3 do
    local moved = false
    for _, b in ipairs(active) do
      local s = make_room(b, send)
      if s > send then
        send, moved = s, true
      end
    end
    if not moved then
      break
    end
  end
  local wait, refused = wait_until(send, now, max_wait)
  if refused then return refused end
  local seq = num(st[2], 0) + 1
  local ttl = math.ceil((send - now + span) * 1000) + 60000
  local fields = {'last', fmt(send), 'seq', seq}
  for _, b in ipairs(active) do
    redis.call('ZREMRANGEBYSCORE', b.key, '-inf', fmt(b.edge))
    redis.call('ZADD', b.key, fmt(send), seq .. ':' .. b.cost)
    redis.call('PEXPIRE', b.key, ttl)
    fields[#fields + 1] = b.name .. '_edge'
    fields[#fields + 1] = fmt(b.edge)
    fields[#fields + 1] = b.name .. '_sum'
    fields[#fields + 1] = b.sum + b.cost
  end
  redis.call('HSET', KEYS[8], unpack(fields))
  redis.call('PEXPIRE', KEYS[8], ttl)
  return {1, fmt(wait), '', ''}

elseif op == 'cool' then
  return fmt(math.max(0, cooldown_until() - now))

elseif op == 'settle' then
  local tpm, margin = tonumber(ARGV[3]), tonumber(ARGV[4])
  local diff, refund = tonumber(ARGV[5]), ARGV[6] == '1'
  local step, streak = tonumber(ARGV[7]), tonumber(ARGV[8])
  local st = redis.call('HMGET', KEYS[4], 'm', 'n', 'ok')
  local mult, n, ok = num(st[1], 1), num(st[2], 0), num(st[3], 0)
  local limit = limit_of(tpm, num(redis.call('HGET', KEYS[5], 'tpm'), 0))
  if ARGV[9] == 'window' then
    -- sliding-window mode: the excess counts as sent at the latest reserved time, which
    -- every later window that held the real send time also holds (refunds are not kept)
    if limit > 0 and diff > 0 then
      local w = redis.call('HMGET', KEYS[8], 'last', 'seq', 'tok_sum')
      local at = math.max(now, num(w[1], 0))
      local seq = num(w[2], 0) + 1
      redis.call('ZADD', KEYS[7], fmt(at), seq .. ':' .. diff)
      redis.call('HSET', KEYS[8], 'seq', seq, 'tok_sum', num(w[3], 0) + diff)
    end
  elseif limit > 0 and (diff > 0 or (diff < 0 and refund)) then
    local rate = rate_of(limit, margin, mult)
    local tat = num(redis.call('GET', KEYS[2]), 0)
    if diff > 0 then
      -- the tokens were already spent: push the schedule back so the window stays within TPM
      set_tat(KEYS[2], math.max(tat, now) + diff / rate, 0)
    elseif tat > now then
      set_tat(KEYS[2], math.max(tat + diff / rate, now), 0)
    end
  end
  -- success bookkeeping; nothing is written while the scope is healthy
  if step > 0 and (mult < 1 or n > 0) then
    mult = math.min(1, mult + step)
    ok = ok + 1
    if ok >= streak then
      n = 0
    end
    redis.call('HSET', KEYS[4], 'm', fmt(mult), 'n', n, 'ok', ok)
    redis.call('PEXPIRE', KEYS[4], 3600000)
  end
  return fmt(mult)

elseif op == 'r429' then
  local retry_after = tonumber(ARGV[3])
  local cut, floor_, base, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]),
    tonumber(ARGV[7])
  local st = redis.call('HMGET', KEYS[4], 'm', 'n')
  local mult, n = num(st[1], 1), num(st[2], 0)
  if now >= cooldown_until() then
    -- 429s that arrive during an active cool-down come from requests already in flight:
    -- they belong to the same episode and must not compound the back-off or the cut
    n = n + 1
    mult = math.max(floor_, mult * cut)
  end
  local backoff = retry_after
  if backoff == nil then
    backoff = math.min(cap, base * 2 ^ (n - 1))
  end
  local until_ = extend_cooldown(backoff)
  redis.call('HSET', KEYS[4], 'm', fmt(mult), 'n', n, 'ok', 0)
  redis.call('PEXPIRE', KEYS[4], 3600000)
  return fmt(until_ - now)

elseif op == 'hdr' then
  local prov_rpm, prov_tpm = tonumber(ARGV[3]), tonumber(ARGV[4])
  local cool_for, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
  if prov_rpm > 0 then
    redis.call('HSET', KEYS[5], 'rpm', prov_rpm)
  end
  if prov_tpm > 0 then
    redis.call('HSET', KEYS[5], 'tpm', prov_tpm)
  end
  if prov_rpm > 0 or prov_tpm > 0 then
    redis.call('PEXPIRE', KEYS[5], ttl)
  end
  if cool_for > 0 then
    extend_cooldown(cool_for)
  end
  return fmt(math.max(0, cooldown_until() - now))
end

return redis.error_reply('respq limiter: unknown op ' .. tostring(op))
