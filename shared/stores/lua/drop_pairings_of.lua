-- ARGV: user tag. Every pairing bound to the user goes, redeemed or not.
-- Runs after pairings.lua.
local dropped = 0
for _, member in ipairs(bound_to(ARGV[1])) do
  redis.call('ZREM', BOUND, member)
  dropped = dropped + drop(string.sub(member, #ARGV[1] + 2))
end
return dropped
