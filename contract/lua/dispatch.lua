--! KEYS: schedule urgent_schedule queue
--! ARGV: now_ms want prefix job_prefix scan
-- Fair dispatch: turn waiting jobs of the scheduled batches into ready arq jobs, a job at
-- a time, until `want` jobs are ready in the queue. Batches take turns by weighted
-- virtual time (each batch's score grows by requests / weight as its jobs are
-- dispatched, so a batch's share is proportional to its weight); the urgent schedule is
-- served first. A batch at its cap of requests in flight is skipped, not waited for.
-- Work per call is bounded by `want` and `scan`, never by the number of queued requests.
-- KEYS: schedule (zset), urgent schedule (zset), arq queue (zset)
-- ARGV: now_ms, want (ready jobs wanted in the queue), respq key prefix, arq job key
--       prefix, scan (candidates looked at per schedule and pick)
-- A waiting job is one entry of the batch's `jobs` list: "<job id>\n<requests>\n<arq job
-- record>" (enqueue.lua). Returns the number of jobs dispatched.
local schedule, urgent, queue = K.schedule, K.urgent_schedule, K.queue
local now_ms, want, prefix, job_prefix = A.now_ms, tonumber(A.want), A.prefix, A.job_prefix
local scan = tonumber(A.scan)
local budget = want - redis.call('ZCOUNT', queue, '-inf', now_ms)
if budget <= 0 then return 0 end

-- Requests of a capped batch in flight: claimed (inflight) plus those in jobs dispatched
-- but not yet claimed. A dispatched job whose record is gone (claimed and finished, or
-- lost with Redis) no longer counts.
local function in_flight(base)
  local n = redis.call('HLEN', base .. 'inflight')
  local sent = redis.call('HGETALL', base .. 'dispatched')
  for i = 1, #sent, 2 do
    if redis.call('EXISTS', job_prefix .. sent[i]) == 1 then
      n = n + tonumber(sent[i + 1])
    else
      redis.call('HDEL', base .. 'dispatched', sent[i])
    end
  end
  return n
end

-- Dispatch one job of batch b: 'sent', 'capped', or 'gone' (it left the schedule).
local function take(zset, b)
  local base = prefix .. ':{' .. b .. '}:'
  local v = redis.call('HMGET', base .. 'meta', 'status', 'weight', 'max_in_flight',
                       'job_ttl_ms')
  if v[1] ~= STATUS.IN_PROGRESS then
    -- paused, cancelling or ended (or gone): resume puts a paused batch back
    redis.call('ZREM', zset, b)
    return 'gone'
  end
  local entry = redis.call('LINDEX', base .. 'jobs', 0)
  if not entry then
    redis.call('ZREM', zset, b)
    return 'gone'
  end
  local a = string.find(entry, '\n', 1, true)
  local z = string.find(entry, '\n', a + 1, true)
  local job_id, n = string.sub(entry, 1, a - 1), tonumber(string.sub(entry, a + 1, z - 1))
  local cap = tonumber(v[3]) or 0
  if cap > 0 then
    -- A capped batch's jobs are no larger than its cap (BatchClient.submit_prepared); one
    -- that is (written by an earlier submit without the cap) goes alone.
    local out = in_flight(base)
    if out > 0 and out + n > cap then return 'capped' end
  end
  redis.call('LPOP', base .. 'jobs')
  -- (a batch sealed before seal.lua stored job_ttl_ms: its records live the margin alone)
  redis.call('SET', job_prefix .. job_id, string.sub(entry, z + 1), 'PX',
             tonumber(v[4]) or JOB_TTL_MARGIN_S * 1000)
  redis.call('ZADD', queue, now_ms, job_id)
  if cap > 0 then redis.call('HSET', base .. 'dispatched', job_id, n) end
  if redis.call('LLEN', base .. 'jobs') == 0 then
    redis.call('ZREM', zset, b)
  else
    redis.call('ZINCRBY', zset, n / (tonumber(v[2]) or 1), b)
  end
  return 'sent'
end

local made = 0
while made < budget do
  local sent = false
  for _, zset in ipairs({urgent, schedule}) do
    local picks = redis.call('ZRANGE', zset, 0, scan - 1)
    for _, b in ipairs(picks) do
      if take(zset, b) == 'sent' then
        sent = true
        break
      end
    end
    if sent then break end
  end
  if not sent then break end
  made = made + 1
end
return made
