-- KEYS: user, run, history, history:order, devices, voice, settings.
redis.call('DEL', unpack(KEYS))
