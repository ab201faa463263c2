-- KEYS: user. ARGV: user_id, created_at.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'created_at', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'user_id', 'created_at', 'safety_heard_at')
