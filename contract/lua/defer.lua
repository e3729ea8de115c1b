--! KEYS: owner inflight queue job
--! ARGV: custom_id job_id record run_at job_ttl_ms
-- Hand one request to a new arq job that runs later, releasing the worker slot instead of
-- sleeping in it. Ownership moves atomically, so a rerun of the old job skips it.
-- KEYS: owner, inflight, queue, new job key
-- ARGV: custom_id, new job id, job record, run at (ms), job ttl (ms)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('SET', KEYS[4], ARGV[3], 'PX', tonumber(ARGV[5]))
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
return 1
