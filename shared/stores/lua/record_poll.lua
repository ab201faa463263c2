-- ARGV: dch, last_polled_at, interval.
-- Runs after pairings.lua.
local p = load(ARGV[1])
if p then
  p.last_polled_at = ARGV[2]
  p.interval = ARGV[3]
  save(ARGV[1], p)
end
