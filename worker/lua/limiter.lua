--! KEYS: req tok cool mult hdr wreq wtok wst
--! ARGV: op now tpm margin diff refund step streak algorithm retry_after cut floor base cap provider_rpm provider_tpm cool_for header_ttl_ms
-- The limiter's operations shared by both algorithms: the cool-down read, settling a
-- request's actual cost, a 429, and the provider's announced limits. Each operation reads
-- only its own arguments (settle: tpm to algorithm; r429: retry_after to cap; hdr:
-- provider_rpm to header_ttl_ms); worker/limiter.py sends the others blank.
if op == 'cool' then
  return fmt(math.max(0, cooldown_until() - now))

elseif op == 'settle' then
  local tpm, margin = tonumber(A.tpm), tonumber(A.margin)
  local diff, refund = tonumber(A.diff), A.refund == '1'
  local step, streak = tonumber(A.step), tonumber(A.streak)
  local st = redis.call('HMGET', K.mult, 'm', 'n', 'ok')
  local mult, n, ok = num(st[1], 1), num(st[2], 0), num(st[3], 0)
  local limit = limit_of(tpm, num(redis.call('HGET', K.hdr, 'tpm'), 0))
  if A.algorithm == 'window' then
    -- sliding-window mode: the excess counts as sent at the latest reserved time, which
    -- every later window that held the real send time also holds (refunds are not kept)
    if limit > 0 and diff > 0 then
      local w = redis.call('HMGET', K.wst, 'last', 'seq', 'tok_sum')
      local at = math.max(now, num(w[1], 0))
      local seq = num(w[2], 0) + 1
      redis.call('ZADD', K.wtok, fmt(at), seq .. ':' .. diff)
      redis.call('HSET', K.wst, 'seq', seq, 'tok_sum', num(w[3], 0) + diff)
    end
  elseif limit > 0 and (diff > 0 or (diff < 0 and refund)) then
    local rate = rate_of(limit, margin, mult)
    local tat = num(redis.call('GET', K.tok), 0)
    if diff > 0 then
      -- the tokens were already spent: push the schedule back so the window stays within TPM
      set_tat(K.tok, math.max(tat, now) + diff / rate, 0)
    elseif tat > now then
      set_tat(K.tok, math.max(tat + diff / rate, now), 0)
    end
  end
  -- success bookkeeping; nothing is written while the scope is healthy
  if step > 0 and (mult < 1 or n > 0) then
    mult = math.min(1, mult + step)
    ok = ok + 1
    if ok >= streak then
      n = 0
    end
    redis.call('HSET', K.mult, 'm', fmt(mult), 'n', n, 'ok', ok)
    redis.call('PEXPIRE', K.mult, 3600000)
  end
  return fmt(mult)

elseif op == 'r429' then
  local retry_after = tonumber(A.retry_after)
  local cut, floor_, base, cap = tonumber(A.cut), tonumber(A.floor), tonumber(A.base),
    tonumber(A.cap)
  local st = redis.call('HMGET', K.mult, 'm', 'n')
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
  redis.call('HSET', K.mult, 'm', fmt(mult), 'n', n, 'ok', 0)
  redis.call('PEXPIRE', K.mult, 3600000)
  return fmt(until_ - now)

elseif op == 'hdr' then
  local prov_rpm, prov_tpm = tonumber(A.provider_rpm), tonumber(A.provider_tpm)
  local cool_for, ttl = tonumber(A.cool_for), tonumber(A.header_ttl_ms)
  if prov_rpm > 0 then
    redis.call('HSET', K.hdr, 'rpm', prov_rpm)
  end
  if prov_tpm > 0 then
    redis.call('HSET', K.hdr, 'tpm', prov_tpm)
  end
  if prov_rpm > 0 or prov_tpm > 0 then
    redis.call('PEXPIRE', K.hdr, ttl)
  end
  if cool_for > 0 then
    extend_cooldown(cool_for)
  end
  return fmt(math.max(0, cooldown_until() - now))
end

return redis.error_reply('respq limiter: unknown op ' .. tostring(op))
