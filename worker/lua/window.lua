--! KEYS: req tok cool mult hdr wreq wtok wst
--! ARGV: op now rpm tpm margin tokens max_wait jitter
-- Reserve a send time in an exact sliding 60 s window (RESPQ_LIMIT_ALGORITHM=window).
if op == 'window' then
  -- Sliding-window mode: admit a request when the cost sent in the 60 s (+ jitter) window
  -- ending at its send time stays within the limit. Send times only increase, so only the
  -- window ending at the new send time needs checking, and each entry crosses the window's
  -- left edge once: amortised O(log n) per request. Nothing is written unless granted.
  local rpm, tpm, margin = tonumber(A.rpm), tonumber(A.tpm), tonumber(A.margin)
  local tokens, max_wait, jitter = tonumber(A.tokens), tonumber(A.max_wait), tonumber(A.jitter)
  local span = 60 + jitter
  local hdr = redis.call('HMGET', K.hdr, 'rpm', 'tpm')
  local mult = num(redis.call('HGET', K.mult, 'm'), 1)
  local st = redis.call('HMGET', K.wst, 'last', 'seq', 'req_edge', 'req_sum', 'tok_edge',
                        'tok_sum')
  local budgets = {
    {key = K.wreq, name = 'req', limit = limit_of(rpm, num(hdr[1], 0)), cost = 1,
     edge = num(st[3], 0), sum = num(st[4], 0)},
    {key = K.wtok, name = 'tok', limit = limit_of(tpm, num(hdr[2], 0)), cost = tokens,
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
  redis.call('HSET', K.wst, unpack(fields))
  redis.call('PEXPIRE', K.wst, ttl)
  return {1, fmt(wait), '', ''}
end
