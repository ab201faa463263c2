-- ARGV: dch, uch, created_at, expires_at, ttl, record JSON, user tag ('' if unbound),
-- '1' if it is live and unbound.
-- Runs after pairings.lua.
local holder = redis.call('HGET', CODES, ARGV[2])
if holder then
  local held = load(holder)
  if held and tonumber(held.expires_at) > tonumber(ARGV[3]) then return 0 end
  drop(holder)  -- expired: it gives up its user code
end
if redis.call('HEXISTS', PAIRINGS, ARGV[1]) == 1 then return 0 end
redis.call('HSET', PAIRINGS, ARGV[1], ARGV[6])
redis.call('HSET', CODES, ARGV[2], ARGV[1])
redis.call('ZADD', EXPIRY, ARGV[4], ARGV[1])
if ARGV[8] == '1' then redis.call('ZADD', UNBOUND, ARGV[4], ARGV[1]) end
if ARGV[7] ~= '' then redis.call('ZADD', BOUND, 0, ARGV[7] .. ':' .. ARGV[1]) end
extend(tonumber(ARGV[5]))
return 1
