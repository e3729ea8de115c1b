-- Store one request's output line, counts, usage (batch and per model) and error code,
-- and finish the batch when this was its last request: one atomic step, exactly once
-- per custom_id (a repeated run of the same request changes nothing).
-- KEYS: meta, res, inflight, then every batch key
-- ARGV: custom_id, line, ok (1/0), error code, model, input, output, total, cached,
--       reasoning tokens, now_s, ttl once finished
local k = {meta = KEYS[1], res = KEYS[2], inflight = KEYS[3]}
local batch_keys = {}
for i = 4, #KEYS do batch_keys[#batch_keys + 1] = KEYS[i] end
local usage = {ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]}
return end_request(k, ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4], ARGV[5], usage, ARGV[11],
  tonumber(ARGV[12]), batch_keys)
