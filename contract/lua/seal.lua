--! KEYS: meta jobs schedule urgent_schedule unsealed webhooks webhook_receiver *batch_keys
--! ARGV: now running_ttl finished_ttl job_ttl_ms batch_id event_id
-- Seal a batch once every request is in: mark it sealed and in progress, set its keys'
-- expiry, finish it if its requests already all ended, and put it on the schedule
-- (urgent or normal, by its meta) when it has waiting jobs. It joins at the schedule's
-- lowest virtual time: it goes next, without credit for the time it was not there.
-- It leaves the set of unsealed batches (create.lua).
-- KEYS: meta, jobs, schedule, urgent schedule, unsealed set, the webhook events to deliver,
-- then every batch key (for expiry)
-- ARGV: now_s, ttl while running, ttl once finished, arq job ttl ms, batch_id, the id of
-- the webhook event should the batch end here
local meta, jobs = K.meta, K.jobs
local batch_keys = {}
for i = MORE_KEYS, #KEYS do batch_keys[#batch_keys + 1] = KEYS[i] end
local v = redis.call('HMGET', meta, 'status', 'total', 'completed', 'failed', 'urgent')
local status = v[1]
local unfinished = (tonumber(v[2]) or 0) > (tonumber(v[3]) or 0) + (tonumber(v[4]) or 0)
redis.call('HSET', meta, 'sealed', 1, 'job_ttl_ms', A.job_ttl_ms)
redis.call('SREM', K.unsealed, A.batch_id)
if status == STATUS.VALIDATING or (status == STATUS.COMPLETED and unfinished) then
  redis.call('HSET', meta, 'status', STATUS.IN_PROGRESS)
  if redis.call('HEXISTS', meta, 'in_progress_at') == 0 then
    redis.call('HSET', meta, 'in_progress_at', A.now)
  end
end
for _, k in ipairs(batch_keys) do redis.call('EXPIRE', k, tonumber(A.running_ttl)) end
finish_batch_if_done({meta = meta, webhooks = K.webhooks, receiver = K.webhook_receiver, event_id = A.event_id}, A.now,
  tonumber(A.finished_ttl), batch_keys)
if redis.call('LLEN', jobs) > 0 then
  local schedule = v[5] == '1' and K.urgent_schedule or K.schedule
  local lowest = redis.call('ZRANGE', schedule, 0, 0, 'WITHSCORES')
  redis.call('ZADD', schedule, 'NX', lowest[2] or 0, A.batch_id)
end
return 0
