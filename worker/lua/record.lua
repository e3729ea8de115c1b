-- Store one request's output line, counts, usage (batch and per model) and error code,
-- release or fail the requests that depend on it, and finish the batch when this was its
-- last request: one atomic step, exactly once per custom_id (a repeated run of the same
-- request changes nothing).
-- KEYS: meta, res, inflight, children, prev, queue, then every batch key
-- ARGV: custom_id, line, ok (1, or 2 for a success whose response is incomplete; 0 for a
--       failure), error code, model, input, output, total, cached,
--       reasoning tokens, now_s, ttl once finished, response id, batch_id, function name,
--       arq job key prefix, chunk size, now_ms, job ttl ms
local k = {meta = KEYS[1], res = KEYS[2], inflight = KEYS[3], children = KEYS[4],
           prev = KEYS[5]}
k.release = {queue = KEYS[6], resp_id = ARGV[13], batch_id = ARGV[14], fn = ARGV[15],
             job_prefix = ARGV[16], chunk_size = tonumber(ARGV[17]), now_ms = ARGV[18],
             job_ttl = tonumber(ARGV[19])}
local batch_keys = {}
for i = 7, #KEYS do batch_keys[#batch_keys + 1] = KEYS[i] end
local usage = {ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]}
local stored = end_request(k, ARGV[1], ARGV[2], ARGV[3] ~= '0', ARGV[4], ARGV[5], usage,
  ARGV[11], tonumber(ARGV[12]), batch_keys)
if stored > 0 and ARGV[3] == '2' then redis.call('HINCRBY', k.meta, INCOMPLETE_FIELD, 1) end
return stored
