--! KEYS: meta order res owner inflight parked parent rescued queue jobs
--! ARGV: what start count repair now_ms job_prefix progress_prefix chunk_size result_ttl id_token batch_id max_rescues give_up_try sample
-- Audit a slice of one batch's requests: each must be recorded (res), held by a live
-- lease (its job's arq in-progress key exists), or in a queued or parked job. A lease
-- whose value ('<token>:<overdue at ms>', worker/job_lease.py) says its requests have been
-- in flight longer than their worker's deadlines allow is "overdue": its worker is alive
-- (it renews the lease) but stuck; it is reported, not re-queued. Requests
-- held by nothing are "stranded" (their job is gone: lost by Redis, or dropped by arq);
-- with repair they are queued again in new jobs that own them, atomically, so several
-- auditors may run at once. Shared by the workers' reconciler and `respq doctor`.
-- KEYS: meta, order, res, owner, inflight, parked, parent, rescued, queue, jobs (the
--       batch's jobs waiting for dispatch)
-- ARGV: what ('order' = a slice of the input order | 'inflight' = an HSCAN page of the
--       in-flight hash), start index or HSCAN cursor, count, repair (0 = report only,
--       1 = re-queue stranded requests, 2 = also move "unowned" ones: no owner, not in
--       flight, so held only by the first job that lists them, if that still exists),
--       now ms, arq job key prefix, arq in-progress key prefix, chunk size, result ttl
--       (s), the random part of the new jobs' ids (ID.rescued_job), batch_id, max
--       re-queues per request, the arq try number given to a request past it (its job
--       then records worker_error), how many stranded custom_ids to return
-- Returns {next (index or cursor; '0' at the end), recorded, leased, overdue, queued,
--          parked, waiting, unowned, stranded, requeued, custom_ids...}
local meta, order, res, owner = K.meta, K.order, K.res, K.owner
local inflight, parked, parent, rescued, queue = K.inflight, K.parked, K.parent, K.rescued, K.queue
-- While the batch has jobs waiting for dispatch (its turn on the fair schedule), a
-- request no job owns yet is taken to be in one of them, not stranded: moving it would
-- jump the schedule. Once they are all dispatched, the walk finds any that were lost.
local scheduled = redis.call('LLEN', K.jobs) > 0
local what, start, count, repair = A.what, A.start, tonumber(A.count), tonumber(A.repair)
local now_ms, job_prefix, progress_prefix = A.now_ms, A.job_prefix, A.progress_prefix
local chunk, job_ttl = tonumber(A.chunk_size), job_ttl_ms(A.result_ttl)
local id_token, batch_id = A.id_token, A.batch_id
local max_rescues, give_up_try, sample = tonumber(A.max_rescues), A.give_up_try,
  tonumber(A.sample)

local function held_by(job)
  local lease = redis.call('GET', progress_prefix .. job)
  if lease then
    local overdue_at = tonumber(string.match(lease, ':(%d+)$'))
    if overdue_at and overdue_at < tonumber(now_ms) then return 'overdue' end
    return 'leased'
  end
  if redis.call('HEXISTS', parked, job) == 1 then return 'parked' end
  if redis.call('EXISTS', job_prefix .. job) == 1 and redis.call('ZSCORE', queue, job) then
    return 'queued'
  end
  return nil
end

local function classify(cid)
  if redis.call('HEXISTS', res, cid) == 1 then return 'recorded' end
  -- The owner decides who may claim a request (claim.lua); without one, the job that
  -- claimed it last (inflight) holds it, else the first job that lists it.
  local holder = redis.call('HGET', owner, cid) or redis.call('HGET', inflight, cid)
  if holder then return held_by(holder) or 'stranded' end
  local p = redis.call('HGET', parent, cid)
  if p and redis.call('HEXISTS', res, p) == 0 then return 'waiting' end
  if scheduled then return 'queued' end
  return 'unowned'
end

local cids, next_pos = {}, '0'
if what == 'inflight' then
  local page = redis.call('HSCAN', inflight, start, 'COUNT', count)
  next_pos = page[1]
  for i = 1, #page[2], 2 do cids[#cids + 1] = page[2][i] end
else
  local first = tonumber(start)
  cids = redis.call('LRANGE', order, first, first + count - 1)
  if #cids == count then next_pos = tostring(first + count) end
end

local tally = {recorded = 0, leased = 0, overdue = 0, queued = 0, parked = 0, waiting = 0,
               unowned = 0, stranded = 0, requeued = 0}
local found, fresh, doomed = {}, {}, {}
for _, cid in ipairs(cids) do
  local state = classify(cid)
  if state == 'recorded' and what == 'inflight' then
    redis.call('HDEL', inflight, cid)  -- a stale claim of a finished request
  end
  tally[state] = tally[state] + 1
  if state == 'stranded' and #found < sample then found[#found + 1] = cid end
  if (state == 'stranded' and repair >= 1) or (state == 'unowned' and repair >= 2) then
    -- Only stranded requests count towards the re-queue limit: moving an unowned one
    -- is a precaution, not a sign that its runs keep failing.
    if state == 'stranded' and redis.call('HINCRBY', rescued, cid, 1) > max_rescues then
      doomed[#doomed + 1] = cid
    else
      fresh[#fresh + 1] = cid
    end
  end
end

local jobs = 0
local function queue_jobs(list, tries)
  for first = 1, #list, chunk do
    local ids = {}
    jobs = jobs + 1
    local job_id = ID.rescued_job(batch_id, id_token, jobs)
    for j = first, math.min(first + chunk - 1, #list) do
      ids[#ids + 1] = list[j]
      redis.call('HSET', owner, list[j], job_id)
      redis.call('HDEL', inflight, list[j])
    end
    redis.call('SET', job_prefix .. job_id, job_record(batch_id, ids, 0, now_ms, tries), 'PX',
      job_ttl)
    redis.call('ZADD', queue, now_ms, job_id)
  end
end
queue_jobs(fresh, 0)
queue_jobs(doomed, give_up_try)
tally.requeued = #fresh + #doomed

local out = {next_pos, tally.recorded, tally.leased, tally.overdue, tally.queued,
             tally.parked, tally.waiting, tally.unowned, tally.stranded, tally.requeued}
for _, cid in ipairs(found) do out[#out + 1] = cid end
return out
