-- ARGV: user_id, user tag, now.
-- Runs after pairings.lua.
local denied = 0
for _, member in ipairs(bound_to(ARGV[2])) do
  local dch = string.sub(member, #ARGV[2] + 2)
  local p = load(dch)
  if not p then
    redis.call('ZREM', BOUND, member)
  elseif p.user_id == ARGV[1] and p.denied ~= '1'
      and tonumber(p.expires_at) > tonumber(ARGV[3]) then
    p.denied = '1'
    save(dch, p)
    denied = denied + 1
  end
end
return denied
