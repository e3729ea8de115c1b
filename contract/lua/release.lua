--! KEYS: inflight
--! ARGV: job_id *custom_ids
-- Give back requests claimed but never sent (a worker shutting down): they stay queued.
-- KEYS: inflight. ARGV: job_id, custom_ids...
local n = 0
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
