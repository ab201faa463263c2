-- KEYS: token. ARGV: now. A watch is the JSON of strings under its token's key.
local raw = redis.call('GET', KEYS[1])
if raw then
  local watch = cjson.decode(raw)
  watch.last_seen_at = ARGV[1]
  redis.call('SET', KEYS[1], cjson.encode(watch))
end
