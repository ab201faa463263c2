-- KEYS: history:order, history. ARGV: since (a completed_at, inclusive).
-- Every run finished at or after `since`, newest first, as run id, record, run id, ...; in
-- one step, so a user deleted meanwhile reads as no history, never as ids without records.
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[1])
local found = {}
for _, id in ipairs(ids) do
  local record = redis.call('HGET', KEYS[2], id)
  if record then
    found[#found + 1] = id
    found[#found + 1] = record
  end
end
return found
