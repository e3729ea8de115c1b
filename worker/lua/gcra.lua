--! KEYS: req tok cool mult hdr wreq wtok wst
--! ARGV: op now rpm tpm burst margin tokens max_wait jitter
-- Reserve a send time by GCRA: requests evenly spaced (RESPQ_LIMIT_ALGORITHM=gcra).
if op == 'reserve' then
  local rpm, tpm = tonumber(A.rpm), tonumber(A.tpm)
  local burst, margin = tonumber(A.burst), tonumber(A.margin)
  local tokens, max_wait, jitter = tonumber(A.tokens), tonumber(A.max_wait), tonumber(A.jitter)
  local hdr = redis.call('HMGET', K.hdr, 'rpm', 'tpm')
  local mult = num(redis.call('HGET', K.mult, 'm'), 1)
  local send = math.max(now, cooldown_until())
  local specs = {
    {K.req, limit_of(rpm, num(hdr[1], 0)), 1},
    {K.tok, limit_of(tpm, num(hdr[2], 0)), tokens},
  }
  local pending = {}
  -- the largest token cost sent in the last minute, and when it goes out of every window
  local cm = redis.call('HMGET', K.mult, 'cmax', 'cmax_at')
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
    redis.call('HSET', K.mult, 'cmax', new_cmax, 'cmax_at', fmt(send))
    redis.call('PEXPIRE', K.mult, 3600000)
  end
  return {1, fmt(wait), '', ''}
end
