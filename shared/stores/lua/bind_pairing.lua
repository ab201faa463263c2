-- ARGV: uch, user_id, user tag, now.
-- Runs after pairings.lua.
local dch = redis.call('HGET', CODES, ARGV[1])
if not dch then return 0 end
local p = load(dch)
if not p or tonumber(p.expires_at) <= tonumber(ARGV[4]) or p.user_id or p.denied == '1' then
  return 0
end
p.user_id, p.user_tag, p.bound_at = ARGV[2], ARGV[3], ARGV[4]
save(dch, p)
redis.call('ZREM', UNBOUND, dch)
redis.call('ZADD', BOUND, 0, ARGV[3] .. ':' .. dch)
extend(redis.call('TTL', PAIRINGS))
return 1
