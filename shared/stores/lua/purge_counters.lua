-- KEYS: the index, then counters read from it. ARGV: older_than ('' = every bucket).
local purged = 0
for i = 2, #KEYS do
  for _, bucket in ipairs(redis.call('HKEYS', KEYS[i])) do
    if ARGV[1] == '' or tonumber(bucket) < tonumber(ARGV[1]) then
      purged = purged + redis.call('HDEL', KEYS[i], bucket)
    end
  end
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', KEYS[1], KEYS[i]) end
end
return purged
