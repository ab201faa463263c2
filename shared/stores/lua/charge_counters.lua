-- KEYS: n counters, then the index. ARGV: since, limit, bucket, ttl for each counter.
local n = #KEYS - 1
for i = 1, n do
  local since, limit = tonumber(ARGV[4 * i - 3]), tonumber(ARGV[4 * i - 2])
  local used = 0
  local fields = redis.call('HGETALL', KEYS[i])
  for j = 1, #fields, 2 do
    if tonumber(fields[j]) >= since then used = used + tonumber(fields[j + 1]) end
  end
  if used >= limit then return 0 end
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], ARGV[4 * i - 1], 1)
  redis.call('EXPIRE', KEYS[i], ARGV[4 * i])
  redis.call('SADD', KEYS[n + 1], KEYS[i])
end
return 1
