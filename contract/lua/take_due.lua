--! KEYS: active
--! ARGV: batch_id now_ms next_due_ms
-- Take a batch's turn in the reconciler's schedule: only one worker audits a batch per
-- period. KEYS: active zset. ARGV: batch_id, now ms, next due ms.
-- Returns 1 when the turn was taken (it was due), 0 when another worker took it first.
local due = redis.call('ZSCORE', K.active, A.batch_id)
if not due or tonumber(due) > tonumber(A.now_ms) then return 0 end
redis.call('ZADD', K.active, A.next_due_ms, A.batch_id)
return 1
