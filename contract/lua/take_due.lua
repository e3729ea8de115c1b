--! KEYS: active
--! ARGV: batch_id now_ms next_due_ms
-- Take a batch's turn in the reconciler's schedule: only one worker audits a batch per
-- period. KEYS: active zset. ARGV: batch_id, now ms, next due ms.
-- Returns 1 when the turn was taken (it was due), 0 when another worker took it first.
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
