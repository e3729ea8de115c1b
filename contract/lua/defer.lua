--! KEYS: owner inflight queue job
--! ARGV: custom_id job_id record run_at job_ttl_ms
-- Hand one request to a new arq job that runs later, releasing the worker slot instead of
-- sleeping in it. Ownership moves atomically, so a rerun of the old job skips it.
-- KEYS: owner, inflight, queue, new job key
-- ARGV: custom_id, new job id, job record, run at (ms), job ttl (ms)
redis.call('HSET', K.owner, A.custom_id, A.job_id)
redis.call('HDEL', K.inflight, A.custom_id)
redis.call('SET', K.job, A.record, 'PX', tonumber(A.job_ttl_ms))
redis.call('ZADD', K.queue, A.run_at, A.job_id)
return 1
