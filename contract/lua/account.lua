--! KEYS: meta
--! ARGV: threshold reason now
-- Count one account-level failure (bad key, no quota) of a batch; after `threshold` of
-- them with no success in between, pause the batch instead of failing the rest of it.
-- The run is counted since the batch's `completed` count stored in account_errors_base,
-- so any success in between starts it again (the write-back of a success stays as it is).
-- KEYS: meta. ARGV: threshold, pause reason, now.
-- Returns 1 when the batch is (now or already) paused: the request is to be handed back,
-- not recorded; 0 when it is to be recorded as a failure.
local meta = K.meta
local v = redis.call('HMGET', meta, 'status', 'completed', 'account_errors_base')
local status = v[1]
if status == STATUS.PAUSED then return 1 end
if status ~= STATUS.IN_PROGRESS and status ~= STATUS.VALIDATING then return 0 end
local completed = v[2] or '0'
local run = 1
if v[3] == completed then
  run = redis.call('HINCRBY', meta, 'account_errors', 1)
else
  redis.call('HSET', meta, 'account_errors', 1, 'account_errors_base', completed)
end
if run < tonumber(A.threshold) then return 0 end
redis.call('HSET', meta, 'status', STATUS.PAUSED, 'paused_at', A.now, 'pause_reason', A.reason)
return 1
