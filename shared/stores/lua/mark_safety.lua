-- KEYS: user. ARGV: now.
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'safety_heard_at', ARGV[1])
end
