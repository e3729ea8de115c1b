--! KEYS: meta batches tenant_batches unsealed
--! ARGV: batch_id now metadata window expires_at queue chunk_size weight urgent max_in_flight tenant endpoint
-- Create a batch record unless it exists; count this submit call. A new batch joins the
-- set of unsealed batches until seal.lua (or a failed validation) takes it out: a server
-- start finds there every batch a crash left validating, however old.
-- KEYS: meta, batches index, the tenant's batches index (unused without a tenant), the
-- unsealed set. ARGV: batch_id, now, metadata json, window seconds, expires_at (0 = none),
-- queue name, chunk size, weight, urgent (1/0), max in flight (0 = no cap), tenant ('' =
-- none: a batch of respq submit or Python), endpoint (contract/endpoints.py: the one
-- every request is sent to)
-- Returns {created (1/0), submits so far, status, the batch's endpoint ('' for a batch
-- made before batches had one: a Responses batch)}.
local meta = K.meta
local created = 0
if redis.call('EXISTS', meta) == 0 then
  redis.call('HSET', meta, 'id', A.batch_id, 'status', STATUS.VALIDATING, 'created_at', A.now,
    'metadata', A.metadata, 'completion_window', A.window, 'expires_at', A.expires_at,
    'queue_name', A.queue, 'total', 0, 'completed', 0, 'failed', 0, 'sealed', 0,
    'weight', A.weight, 'urgent', A.urgent, 'max_in_flight', A.max_in_flight,
    'endpoint', A.endpoint)
  redis.call('ZADD', K.batches, A.now, A.batch_id)
  -- The owner is written with the record, in one script: no moment exists in which the
  -- batch is listed without its tenant (and so visible to no one, or to everyone).
  if A.tenant ~= '' then
    redis.call('HSET', meta, 'tenant', A.tenant)
    redis.call('ZADD', K.tenant_batches, A.now, A.batch_id)
  end
  redis.call('SADD', K.unsealed, A.batch_id)
  created = 1
end
local submit = redis.call('HINCRBY', meta, 'submits', 1)
local v = redis.call('HMGET', meta, 'status', 'endpoint')
return {created, submit, v[1], v[2] or ''}
