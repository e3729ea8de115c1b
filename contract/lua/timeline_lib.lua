--! KEYS:
--! ARGV:
-- A batch's timeline (contract/timeline.py has the layout and why the width doubles):
-- included by record_many.lua, so the results of one write-back land in their time bucket
-- in the same script call. A call costs HMGET + HGET + HSET whatever the group's size,
-- and once per doubling of the batch's age an HGETALL, HDEL and HSET that merge buckets.

local TIMELINE_COUNTS = {'s', 'f', 'i', 'o'}
local TIMELINE_MAPS = {'e', 'l'}

-- Add bucket `add` into bucket `into` (tables as stored: counts, e = codes, l = latency).
local function timeline_merge(into, add)
  for _, name in ipairs(TIMELINE_COUNTS) do
    local n = add[name]
    if n and n ~= 0 then into[name] = (into[name] or 0) + n end
  end
  for _, name in ipairs(TIMELINE_MAPS) do
    local part = add[name]
    if part and next(part) ~= nil then
      local map = into[name] or {}
      for k, n in pairs(part) do map[k] = (map[k] or 0) + n end
      into[name] = map
    end
  end
end

-- Double the width by `factor` and merge the buckets that now share one.
local function timeline_widen(key, factor, width)
  local old = redis.call('HGETALL', key)
  local merged, stale = {}, {}
  for j = 1, #old, 2 do
    local number = string.match(old[j], '^b(%d+)$')
    if number then
      local to = math.floor(tonumber(number) / factor)
      local into = merged[to] or {}
      timeline_merge(into, cjson.decode(old[j + 1]))
      merged[to] = into
      stale[#stale + 1] = old[j]
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  local fields = {'w', width * factor}
  for to, bucket in pairs(merged) do
    fields[#fields + 1] = 'b' .. to
    fields[#fields + 1] = cjson.encode(bucket)
  end
  redis.call('HSET', key, unpack(fields))
end

-- Count `add` (a bucket table) in the bucket of `now_ms`. The first call of a batch sets
-- its start (t0) and the base width; a clock behind t0 counts in the first bucket.
local function timeline_add(key, now_ms, buckets, base_ms, add)
  local head = redis.call('HMGET', key, 't0', 'w')
  local t0, width = tonumber(head[1]), tonumber(head[2]) or base_ms
  if not t0 then
    t0 = now_ms
    redis.call('HSET', key, 't0', t0, 'w', width)
  end
  local age = math.max(now_ms - t0, 0)
  local index = math.floor(age / width)
  if index >= buckets then
    local factor = 2
    while math.floor(age / (width * factor)) >= buckets do factor = factor * 2 end
    timeline_widen(key, factor, width)
    width = width * factor
    index = math.floor(age / width)
  end
  local field = 'b' .. index
  local current = redis.call('HGET', key, field)
  local bucket = current and cjson.decode(current) or {}
  timeline_merge(bucket, add)
  redis.call('HSET', key, field, cjson.encode(bucket))
end
