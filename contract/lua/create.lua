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
local meta = KEYS[1]
local created = 0
if redis.call('EXISTS', meta) == 0 then
  redis.call('HSET', meta, 'id', ARGV[1], 'status', STATUS.VALIDATING, 'created_at', ARGV[2],
    'metadata', ARGV[3], 'completion_window', ARGV[4], 'expires_at', ARGV[5],
    'queue_name', ARGV[6], 'total', 0, 'completed', 0, 'failed', 0, 'sealed', 0,
    'weight', ARGV[8], 'urgent', ARGV[9], 'max_in_flight', ARGV[10], 'endpoint', A.endpoint)
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
  -- The owner is written with the record, in one script: no moment exists in which the
  -- batch is listed without its tenant (and so visible to no one, or to everyone).
  if A.tenant ~= '' then
    redis.call('HSET', meta, 'tenant', A.tenant)
    redis.call('ZADD', K.tenant_batches, ARGV[2], ARGV[1])
  end
  redis.call('SADD', K.unsealed, A.batch_id)
  created = 1
end
local submit = redis.call('HINCRBY', meta, 'submits', 1)
local v = redis.call('HMGET', meta, 'status', 'endpoint')
return {created, submit, v[1], v[2] or ''}
