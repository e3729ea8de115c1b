--! KEYS: meta webhooks webhook_receiver unsealed *batch_keys
--! ARGV: batch_id status now finished_ttl event_id errors
-- End a batch that nothing was enqueued for (never sealed): `failed` when its input file
-- did not validate (errors: OpenAI's errors object as JSON), or `cancelled` when it was
-- cancelled while being validated. Its webhook event is written in the same step
-- (emit_batch_event), and its keys get the finished ttl. A batch that is sealed (its
-- requests are queued) or already ended is left alone. Either way it leaves the set of
-- unsealed batches (create.lua).
-- Returns 1 when it ended the batch, 0 otherwise.
local v = redis.call('HMGET', K.meta, 'status', 'sealed')
local status = v[1]
redis.call('SREM', K.unsealed, A.batch_id)
if not status or v[2] == '1' or status == STATUS.COMPLETED or status == STATUS.CANCELLED
   or status == STATUS.EXPIRED or status == STATUS.FAILED then
  return 0
end
local final, now = A.status, A.now
if final == STATUS.FAILED then
  redis.call('HSET', K.meta, 'status', final, 'failed_at', now, 'errors', A.errors, 'sealed', 1)
else
  redis.call('HSET', K.meta, 'status', STATUS.CANCELLED, 'cancelled_at', now, 'completed_at', now,
    'sealed', 1)
  final = STATUS.CANCELLED
end
emit_batch_event({meta = K.meta, webhooks = K.webhooks, receiver = K.webhook_receiver, event_id = A.event_id}, final, now)
local ttl = tonumber(A.finished_ttl)
for i = MORE_KEYS, #KEYS do redis.call('EXPIRE', KEYS[i], ttl) end
return 1
