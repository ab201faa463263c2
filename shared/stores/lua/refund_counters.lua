-- KEYS: counters. ARGV: the bucket of each.
for i = 1, #KEYS do
  local count = tonumber(redis.call('HGET', KEYS[i], ARGV[i]))
  if count and count > 0 then redis.call('HINCRBY', KEYS[i], ARGV[i], -1) end
end
