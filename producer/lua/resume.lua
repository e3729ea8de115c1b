-- Resume a batch paused by its budget, optionally setting a new max_cost first.
-- KEYS: meta. ARGV: new max_cost ('' = keep), now.
-- Returns 'ok', 'missing', or 'state:<status>' when the batch is not paused and no new
-- budget was given (a new budget on a running batch is simply stored).
local meta = KEYS[1]
local status = redis.call('HGET', meta, 'status')
if not status then return 'missing' end
local new_max = ARGV[1]
if status == 'paused' then
  if new_max ~= '' then redis.call('HSET', meta, 'max_cost', new_max) end
  redis.call('HSET', meta, 'status', 'in_progress', 'resumed_at', ARGV[2])
  redis.call('HDEL', meta, 'paused_at', 'pause_reason')
  return 'ok'
end
if new_max ~= '' and (status == 'in_progress' or status == 'validating') then
  redis.call('HSET', meta, 'max_cost', new_max)
  return 'ok'
end
return 'state:' .. status
