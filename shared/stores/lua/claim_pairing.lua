-- The pairing half of redeeming: take a live pairing bound to the user away, exactly once.
-- ARGV: dch, user_id, now.
-- Runs after pairings.lua.
local p = load(ARGV[1])
if not p or p.user_id ~= ARGV[2] or p.denied == '1' then return 0 end
if tonumber(p.expires_at) <= tonumber(ARGV[3]) then return 0 end
return drop(ARGV[1])
