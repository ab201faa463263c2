-- ARGV: expired_before.
-- Runs after pairings.lua.
local purged = 0
for _, dch in ipairs(redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', '(' .. ARGV[1])) do
  purged = purged + drop(dch)
end
return purged
