--! KEYS: meta parked queue paused jobs schedule urgent_schedule
--! ARGV: max_cost now arq_job_prefix now_ms result_ttl batch_id
-- Resume a batch paused by its budget, optionally setting a new max_cost first, and queue
-- the jobs its workers parked while it was paused.
-- KEYS: meta, parked, queue, paused batches set, jobs, schedule, urgent schedule.
-- ARGV: new max_cost ('' = keep), now, arq job key prefix, now ms, result ttl (s), batch_id.
-- Returns 'ok', 'missing', or 'state:<status>' when the batch is not paused and no new
-- budget was given (a new budget on a running batch is simply stored).
local meta, parked, queue = K.meta, K.parked, K.queue
local status = redis.call('HGET', meta, 'status')
if not status then return 'missing' end
local new_max = A.max_cost
if status == STATUS.PAUSED then
  if new_max ~= '' then redis.call('HSET', meta, 'max_cost', new_max) end
  redis.call('HSET', meta, 'status', STATUS.IN_PROGRESS, 'resumed_at', A.now)
  redis.call('HDEL', meta, 'paused_at', 'pause_reason')
  local jobs = redis.call('HGETALL', parked)
  for i = 1, #jobs, 2 do
    redis.call('SET', A.arq_job_prefix .. jobs[i], jobs[i + 1], 'PX',
      job_ttl_ms(A.result_ttl))
    redis.call('ZADD', queue, A.now_ms, jobs[i])
  end
  redis.call('DEL', parked)
  redis.call('SREM', K.paused, A.batch_id)
  -- Dispatch left the schedule when it found the batch paused: take the turn back.
  if redis.call('LLEN', K.jobs) > 0 then
    local urgent = redis.call('HGET', meta, 'urgent') == '1'
    local schedule = urgent and K.urgent_schedule or K.schedule
    local lowest = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
    redis.call('ZADD', schedule, 'NX', lowest[2] or 0, A.batch_id)
  end
  return 'ok'
end
if new_max ~= '' and (status == STATUS.IN_PROGRESS or status == STATUS.VALIDATING) then
  redis.call('HSET', meta, 'max_cost', new_max)
  return 'ok'
end
return 'state:' .. status
