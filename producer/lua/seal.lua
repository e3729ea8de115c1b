-- Queue written jobs a page at a time; when none are left, mark the batch sealed (every
-- request is in) and in progress, and finish it if its requests already all ended.
-- KEYS: meta, pending, queue, then every batch key (for expiry)
-- ARGV: now_ms, page size, now_s, ttl while running, ttl once finished
-- Returns 1 when it queued a page (call again), 0 once sealed.
local meta, pending, queue = KEYS[1], KEYS[2], KEYS[3]
local ids = redis.call('LRANGE', pending, 0, tonumber(ARGV[2]) - 1)
if #ids > 0 then
  local args = {}
  for _, id in ipairs(ids) do args[#args + 1] = ARGV[1]; args[#args + 1] = id end
  redis.call('ZADD', queue, unpack(args))
  redis.call('LTRIM', pending, #ids, -1)
  return 1
end
local batch_keys = {}
for i = 4, #KEYS do batch_keys[#batch_keys + 1] = KEYS[i] end
local v = redis.call('HMGET', meta, 'status', 'total', 'completed', 'failed')
local status = v[1]
local unfinished = (tonumber(v[2]) or 0) > (tonumber(v[3]) or 0) + (tonumber(v[4]) or 0)
redis.call('HSET', meta, 'sealed', 1)
if status == 'validating' or (status == 'completed' and unfinished) then
  redis.call('HSET', meta, 'status', 'in_progress')
  if redis.call('HEXISTS', meta, 'in_progress_at') == 0 then
    redis.call('HSET', meta, 'in_progress_at', ARGV[3])
  end
end
for _, k in ipairs(batch_keys) do redis.call('EXPIRE', k, tonumber(ARGV[4])) end
finish_batch_if_done(meta, ARGV[3], tonumber(ARGV[5]), batch_keys)
return 0
