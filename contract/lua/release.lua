--! KEYS: inflight
--! ARGV: job_id *custom_ids
-- Give back requests claimed but never sent (a worker shutting down): they stay queued.
-- KEYS: inflight. ARGV: job_id, custom_ids...
local n = 0
for i = MORE_ARGS, #ARGV do
  if redis.call('HGET', K.inflight, ARGV[i]) == A.job_id then
    redis.call('HDEL', K.inflight, ARGV[i])
    n = n + 1
  end
end
return n
