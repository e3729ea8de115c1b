--! KEYS: meta req order jobs parent children
--! ARGV: batch_id submit_no chunk_no chunk_size now_ms *requests
-- Store a slice of requests and write their jobs into the batch's list of waiting jobs,
-- skipping custom_ids the batch already has so a repeated submit enqueues nothing twice.
-- Nothing reaches arq's queue here: dispatch.lua hands the batches' jobs to it in turns.
-- A request with a parent (depends_on) gets no job: it waits in the children hash
-- until its parent succeeds (see end_request in _common.lua).
-- KEYS: meta, req, order, jobs, parent, children
-- ARGV: batch_id, this submit's number, first_chunk_no, chunk_size, now_ms,
--       then custom_id, body, parent ('' = none) for each request
local meta, req, order, jobs = K.meta, K.req, K.order, K.jobs
local parents, children = K.parent, K.children
local batch_id, submit_no = A.batch_id, A.submit_no
local chunk_no, chunk_size = tonumber(A.chunk_no), tonumber(A.chunk_size)
local now_ms = A.now_ms
local new, runnable = {}, {}
for i = MORE_ARGS, #ARGV, 3 do
  local cid, parent = ARGV[i], ARGV[i + 2]
  if redis.call('HSETNX', req, cid, ARGV[i + 1]) == 1 then
    new[#new + 1] = cid
    if parent == '' then
      runnable[#runnable + 1] = cid
    else
      redis.call('HSET', parents, cid, parent)
      local kids = redis.call('HGET', children, parent)
      local list = kids and cjson.decode(kids) or {}
      list[#list + 1] = cid
      redis.call('HSET', children, parent, cjson.encode(list))
    end
  end
end
if #new == 0 then return 0 end
for i = 1, #new, 5000 do
  redis.call('RPUSH', order, unpack(new, i, math.min(i + 4999, #new)))
end
redis.call('HINCRBY', meta, 'total', #new)
local waiting = {}
for first = 1, #runnable, chunk_size do
  local ids = {}
  for j = first, math.min(first + chunk_size - 1, #runnable) do ids[#ids + 1] = runnable[j] end
  -- "<job id>\n<requests>\n<arq job record>", as dispatch.lua reads it
  waiting[#waiting + 1] = ID.submit_job(batch_id, submit_no, chunk_no) .. '\n' .. #ids ..
    '\n' .. job_record(batch_id, ids, 0, now_ms)
  chunk_no = chunk_no + 1
end
if #waiting > 0 then redis.call('RPUSH', jobs, unpack(waiting)) end
return #new
