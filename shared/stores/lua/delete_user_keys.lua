-- KEYS: user, run, history, history:order, devices, voice.
redis.call('DEL', unpack(KEYS))
