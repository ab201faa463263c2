// The web watch face: pairs by voice, long-polls the cues, and buzzes at each cue locally.
//
// One poll answer carries every cue still to come, so buzzes are scheduled here against the
// server's clock (corrected by an NTP-style offset estimate) and need no network to fire.
// When a poll fails the schedule stays: the face says it is offline, retries with a growing
// wait (at once when the browser says it is back online), and on reaching the coach again
// reads the whole run afresh, with a new clock estimate, and replaces the schedule.
"use strict";

(function () {
  const API = "api/v1/";
  const GRANT = "urn:ietf:params:oauth:grant-type:device_code";
  const TOKEN_KEY = "sciatica-coach.watch-token";
  const LONG_POLL_S = 25;
  const RETRY_MS = 2000;
  const BACKOFF_FIRST_MS = 1000; // the wait after one failed poll; it doubles on each failure
  const BACKOFF_MAX_MS = 30000;
  const BACKOFF_KEPT = 16; // the waits chosen since the last answer, for the face's tests
  const POLL_DEADLINE_MS = (LONG_POLL_S + 15) * 1000; // an answer later than this never comes
  const OFFSET_SAMPLES = 8;
  const LATE_TOLERANCE_MS = 500; // a cue this late still buzzes; older ones are skipped
  const REMEMBERED_CUES = 256; // fired cues kept, so a rescheduled one never buzzes twice
  const RUNNING = new Set(["announcing", "holding", "awaiting"]);

  const $ = (id) => document.getElementById(id);
  const face = $("face");
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const watch = {
    token: localStorage.getItem(TOKEN_KEY),
    etag: null,
    snapshot: null,
    samples: [], // {offset, delay} pairs; the lowest-delay one is trusted most
    offsetMs: 0, // server clock minus this clock
    offsetErrorMs: Infinity, // the most offsetMs can be wrong by: half its sample's delay
    timers: [],
    fired: new Set(), // keys of cues already buzzed, oldest first
    enabled: false, // the person tapped "turn on buzzing": vibrate may work from now on
    wakeLock: null, // the screen wake lock's sentinel while we hold one
    notice: null, // {text, until}: a message that outranks the status line for a while
  };

  // Reaching the coach: "online" while polls are answered, "offline" from a failed poll (or
  // the browser's offline event) until one is answered again.
  const link = {
    state: "online",
    failures: 0, // polls failed in a row
    waits: [], // the back-off waits chosen since the last answer, ms
    resyncs: 0, // times the face read the run afresh after being offline
    woken: null, // what ended the last back-off wait: "timer" or "online"
    wake: null, // ends the current back-off wait early
    retryAt: null, // when the current back-off wait ends (this clock), while there is one
    poll: null, // the AbortController of the poll in flight
  };

  // -- clock -------------------------------------------------------------------------------

  function serverNow() {
    return Date.now() + watch.offsetMs;
  }

  function addClockSample(t0, t1, t2, t3) {
    if (![t0, t1, t2, t3].every(Number.isFinite) || !t1 || !t2) return;
    const offset = ((t1 - t0) + (t2 - t3)) / 2;
    const delay = (t3 - t0) - (t2 - t1);
    watch.samples.push({ offset, delay, at_ms: t3 });
    if (watch.samples.length > OFFSET_SAMPLES) watch.samples.shift();
    const best = watch.samples.reduce((a, b) => (b.delay < a.delay ? b : a));
    const changed = Math.abs(best.offset - watch.offsetMs) > 5;
    watch.offsetMs = best.offset;
    watch.offsetErrorMs = Math.max(0, best.delay) / 2;
    if (changed && watch.snapshot) schedule(watch.snapshot.cues);
  }

  // -- buzzing -----------------------------------------------------------------------------

  // A cue is the same cue in every answer it appears in: its kind, its step, and its time.
  function cueKey(cue) {
    return `${cue.kind}|${cue.step_index}|${cue.at_ms}`;
  }

  function remember(cue) {
    watch.fired.add(cueKey(cue));
    if (watch.fired.size > REMEMBERED_CUES) {
      watch.fired.delete(watch.fired.values().next().value);
    }
  }

  // What was buzzed, when it was aimed at and when it fired (this clock), and how sure the
  // aim was: the face's own record, read by its tests and kept short.
  const buzzLog = [];

  function buzz(cue, aim) {
    if (watch.fired.has(cueKey(cue))) return;
    remember(cue);
    buzzLog.push({ kind: cue.kind, at_ms: cue.at_ms, ...aim, fired_ms: Date.now() });
    if (buzzLog.length > REMEMBERED_CUES) buzzLog.shift();
    face.dataset.lastCue = cue.kind;
    let vibrated = false;
    if (typeof navigator.vibrate === "function") {
      try {
        vibrated = navigator.vibrate(cue.pattern.web);
      } catch (err) {
        vibrated = false;
      }
    }
    if (!vibrated) flash(cue.kind);
  }

  function flash(kind) {
    const el = $("flash");
    el.dataset.kind = kind;
    el.classList.remove("on");
    void el.offsetWidth; // restart the animation
    el.classList.add("on");
    face.dataset.flashed = kind;
  }

  // Replaces the whole schedule; a cue already fired (say, 200 ms ago, before a sharper clock
  // estimate moved every time a little) is left out, as the Python watch's scheduler does.
  function schedule(cues) {
    watch.timers.forEach(clearTimeout);
    watch.timers = [];
    for (const cue of cues || []) {
      if (watch.fired.has(cueKey(cue))) continue;
      const aim = {
        due_ms: cue.at_ms - watch.offsetMs,
        offset_ms: watch.offsetMs,
        error_ms: watch.offsetErrorMs,
      };
      const delay = aim.due_ms - Date.now();
      if (delay < -LATE_TOLERANCE_MS) continue;
      watch.timers.push(setTimeout(() => buzz(cue, aim), Math.max(0, delay)));
    }
  }

  // -- turning buzzing on -----------------------------------------------------------------
  //
  // Browsers let navigator.vibrate work only after the person has tapped the page, and the
  // page must stay visible to buzz, so one tap does both: it enables vibration (with a short
  // test buzz) and asks for a screen wake lock where the browser has one.

  async function requestWakeLock() {
    if (!("wakeLock" in navigator) || watch.wakeLock) return;
    try {
      const sentinel = await navigator.wakeLock.request("screen");
      watch.wakeLock = sentinel;
      face.dataset.wakeLock = "held";
      sentinel.addEventListener("release", () => {
        watch.wakeLock = null;
        face.dataset.wakeLock = "released";
      });
    } catch (err) {
      face.dataset.wakeLock = "refused"; // low battery, a hidden page, or no HTTPS
    }
  }

  function enable() {
    watch.enabled = true;
    face.dataset.enabled = "true";
    if (typeof navigator.vibrate === "function") {
      try {
        navigator.vibrate(60);
      } catch (err) {
        // nothing to do: the flash stands in for it
      }
    }
    requestWakeLock();
  }

  // The browser drops the lock whenever the page is hidden; take it again on coming back.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && watch.enabled) requestWakeLock();
  });

  // -- drawing -----------------------------------------------------------------------------

  function notify(text) {
    watch.notice = { text, until: Date.now() + 4000 };
    draw();
  }

  function show(screen) {
    face.dataset.screen = screen;
  }

  function seconds(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    return s >= 60 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}` : String(s);
  }

  function setRing(fraction) {
    const f = Math.min(1, Math.max(0, fraction));
    const ring = $("ring");
    ring.setAttribute("stroke-dashoffset", String(100 * (1 - f)));
    ring.dataset.empty = String(f === 0);
  }

  function localPhase(snap, now) {
    if (!RUNNING.has(snap.state) || !snap.hold) return snap.state;
    if (now < snap.hold.start_ms) return "announcing";
    if (now < snap.hold.end_ms) return "holding";
    return "awaiting";
  }

  function draw() {
    const snap = watch.snapshot;
    if (face.dataset.screen !== "routine" || !snap) return;
    const now = serverNow();
    const phase = localPhase(snap, now);
    face.dataset.state = phase;
    const step = snap.step;
    $("step-count").textContent = step ? `Step ${step.index + 1} of ${step.count}` : "";
    $("step-title").textContent = step ? step.title : snap.routine.title;
    const pause = $("pause-resume");
    const paused = phase === "paused" || phase === "stopped";
    pause.dataset.action = paused ? "resume" : "pause";
    pause.setAttribute("aria-label", paused ? "Resume" : "Pause");

    const hold = snap.hold;
    let countdown = "–";
    let status = "";
    let ring = 0;
    face.dataset.warning = "false";
    if (phase === "announcing" && hold) {
      countdown = seconds(hold.seconds * 1000);
      status = `Get into position: hold starts in ${seconds(hold.start_ms - now)} s`;
    } else if (phase === "holding" && hold) {
      const left = hold.end_ms - now;
      countdown = seconds(left);
      ring = left / (hold.seconds * 1000);
      status = "Hold";
      face.dataset.warning = String(left <= 5000);
    } else if (phase === "awaiting") {
      countdown = "✓";
      status = "Done. Tap next or say next.";
    } else if (paused && hold) {
      countdown = seconds(hold.remaining_ms);
      ring = hold.remaining_ms / (hold.seconds * 1000);
      status = phase === "paused" ? "Paused" : "Stopped";
    } else if (phase === "completed") {
      countdown = "✓";
      status = "Routine complete. Well done.";
    } else if (phase === "idle") {
      status = "Say “Alexa, ask sciatica coach to start my sciatica routine”.";
    } else {
      status = phase;
    }
    if (watch.notice && Date.now() < watch.notice.until) status = watch.notice.text;
    $("countdown").textContent = countdown;
    $("status").textContent = status;
    setRing(ring);
    drawLink();
  }

  // Whether the buzzes still to come will fire: they are scheduled here, network or not.
  function buzzesAhead() {
    const snap = watch.snapshot;
    if (!snap || !snap.cues) return false;
    const now = serverNow();
    return snap.cues.some((cue) => !watch.fired.has(cueKey(cue)) && cue.at_ms > now);
  }

  function drawLink() {
    face.dataset.network = link.state;
    let text = "";
    if (link.state === "offline") {
      text = buzzesAhead() ? "Offline · buzzes continue" : "Offline · reconnecting…";
    }
    const line = $("network");
    if (line.textContent !== text) line.textContent = text;
  }

  function setLink(state) {
    link.state = state;
    drawLink();
  }

  function applySnapshot(snap, etag) {
    const before = watch.snapshot;
    watch.snapshot = snap;
    if (etag) watch.etag = etag;
    schedule(snap.cues);
    draw();
    // A run just finished: the days change. Nothing else a poll brings changes them.
    if (before && before.state !== "completed" && snap.state === "completed") loadHistory();
  }

  // -- progress and settings ---------------------------------------------------------------
  //
  // The last seven days (today last) and the streak are read when the face opens and again
  // when a run completes, never on every poll. The settings are read when their screen opens;
  // hands-free can be switched there, the rest is the voice's to change.

  const person = { history: null, historyToken: null, settings: null };
  const WEEKDAY_LETTERS = ["S", "M", "T", "W", "T", "F", "S"]; // Date#getUTCDay order
  const FLOW_TEXT = { hands_free: "Carries on by itself", on_next: "Waits for “next”" };

  function runsText(n) {
    return n === 1 ? "1 run" : `${n} runs`;
  }

  async function loadHistory() {
    const token = watch.token;
    if (!token) return;
    let response;
    try {
      response = await fetch(API + "history", { headers: authHeaders(), cache: "no-store" });
    } catch (err) {
      return; // shown at the next chance: the face opening again, or a run finishing
    }
    if (!response.ok || token !== watch.token) return;
    person.history = await response.json();
    person.historyToken = token;
    drawHistory();
  }

  function drawHistory() {
    const history = person.history;
    const row = $("days");
    row.replaceChildren();
    if (!history) {
      delete face.dataset.history;
      $("streak").textContent = "";
      return;
    }
    const last = history.last_days.length - 1;
    history.last_days.forEach((day, i) => {
      const el = document.createElement("span");
      el.className = "day";
      el.dataset.date = day.date;
      el.dataset.runs = String(day.runs);
      el.dataset.today = String(i === last);
      el.textContent = WEEKDAY_LETTERS[new Date(`${day.date}T00:00:00Z`).getUTCDay()];
      el.title = `${i === last ? "Today" : day.date}: ${runsText(day.runs)}`;
      row.append(el);
    });
    const week = `${runsText(history.runs_this_week)} this week`;
    $("streak").textContent =
      history.streak_days > 0 ? `${history.streak_days}-day streak · ${week}` : week;
    face.dataset.history = "shown";
  }

  async function openSettings() {
    show("settings");
    $("settings-status").textContent = "Reading your settings…";
    let response;
    try {
      response = await fetch(API + "settings", { headers: authHeaders(), cache: "no-store" });
    } catch (err) {
      $("settings-status").textContent = "Can't reach the coach; try again.";
      return;
    }
    if (response.status === 401) return forgetToken();
    if (!response.ok) {
      $("settings-status").textContent = "The coach could not read your settings; try again.";
      return;
    }
    showSettings(await response.json(), "");
  }

  function showSettings(settings, note) {
    person.settings = settings;
    const routines = "as the routine says";
    $("set-hold").textContent =
      settings.hold_seconds === null ? routines : `${settings.hold_seconds} s`;
    $("set-per-side").textContent = String(settings.holds_per_side);
    $("set-first-side").textContent =
      settings.first_side === null ? routines : settings.first_side === "left" ? "Left" : "Right";
    $("set-warning").textContent = settings.warning_buzz ? "On" : "Off";
    $("set-flow").textContent = FLOW_TEXT[settings.flow] || "Not chosen yet";
    const handsFree = settings.flow === "hands_free";
    const toggle = $("hands-free");
    toggle.setAttribute("aria-pressed", String(handsFree));
    toggle.textContent = handsFree ? "Hands-free: on" : "Hands-free: off";
    toggle.disabled = false;
    $("settings-status").textContent = note;
    face.dataset.settings = "shown";
  }

  async function toggleHandsFree() {
    if (!person.settings || !watch.token) return;
    const flow = person.settings.flow === "hands_free" ? "on_next" : "hands_free";
    const toggle = $("hands-free");
    toggle.disabled = true;
    let response;
    try {
      response = await fetch(API + "settings", {
        method: "PATCH",
        cache: "no-store",
        headers: { ...authHeaders(), "Content-Type": "application/merge-patch+json" },
        body: JSON.stringify({ flow }),
      });
    } catch (err) {
      toggle.disabled = false;
      $("settings-status").textContent = "Can't reach the coach; try again.";
      return;
    }
    if (response.status === 401) return forgetToken();
    const body = await response.json().catch(() => ({}));
    if (response.ok) return showSettings(body, "Saved: it applies from the next step.");
    toggle.disabled = false;
    $("settings-status").textContent = body.detail || `The coach answered ${response.status}.`;
  }

  function closeSettings() {
    show("routine");
    draw();
  }

  // -- tuning to the speaker --------------------------------------------------------------
  //
  // The person taps Tune, then allows the microphone; the face listens (keeping only the
  // loudness of every 5 ms, never audio) and tells them to ask Alexa to tune the watch. The
  // speaker reads the calibration script part by part; once the last part has been read and
  // heard, the face sends where it heard sound, on the server's clock, and forgets the rest.

  const TUNING_POLL_MS = 1000;
  const QUIET_AFTER_MS = 2000; // silence after the closing words: the speaker is done
  const LAST_PART_MAX_MS = 300000; // a section reads in well under this; then send anyway
  const tuning = { phase: "idle", listener: null, status: null, result: null, sent: null };

  function setTuning(phase, text) {
    tuning.phase = phase;
    face.dataset.tuning = phase;
    if (text !== undefined) $("tune-status").textContent = text;
  }

  // Where a frame the audio context heard at `seconds` falls on the server's clock.
  function contextToServerMs(context, seconds) {
    const stamp = context.getOutputTimestamp ? context.getOutputTimestamp() : {};
    const perfNow = performance.now();
    const dateNow = Date.now();
    let heardAt;
    if (stamp.performanceTime > 0) {
      heardAt = dateNow - (perfNow - stamp.performanceTime) - (stamp.contextTime - seconds) * 1000;
    } else {
      heardAt = dateNow - (context.currentTime - seconds) * 1000;
    }
    return heardAt + watch.offsetMs;
  }

  function openTuning() {
    show("tuning");
    tuning.result = null;
    setTuning("asking", "");
    $("tune-close").textContent = "Cancel";
  }

  async function startListening() {
    const listener = new SciaticaListening.Listener(contextToServerMs);
    try {
      await listener.start();
    } catch (err) {
      listener.stop();
      setTuning("failed", "The watch can't use the microphone. Allow it for this page, then try again.");
      return;
    }
    tuning.listener = listener;
    let response;
    try {
      response = await fetch(API + "tuning", {
        method: "POST",
        cache: "no-store",
        headers: authHeaders(),
      });
    } catch (err) {
      return stopListening("failed", "Can't reach the coach; try again.");
    }
    if (response.status === 401) {
      stopListening("failed", "");
      forgetToken();
      return;
    }
    if (!response.ok) return stopListening("failed", "The coach could not start tuning; try again.");
    tuning.status = await response.json();
    setTuning("listening", "Listening. Now say: “Alexa, ask sciatica coach to tune my watch”.");
    followTuning();
  }

  function stopListening(phase, text) {
    if (tuning.listener) tuning.listener.stop();
    tuning.listener = null;
    setTuning(phase, text);
  }

  async function followTuning() {
    while (tuning.phase === "listening") {
      await sleep(TUNING_POLL_MS);
      if (tuning.phase !== "listening") return;
      let response;
      try {
        response = await fetch(API + "tuning", { headers: authHeaders(), cache: "no-store" });
      } catch (err) {
        continue; // the listening goes on; the next poll may reach the coach
      }
      if (response.status === 404) {
        return stopListening("failed", "The tuning was stopped or ran out of time. Tap listen to start again.");
      }
      if (!response.ok) continue;
      tuning.status = await response.json();
      const sections = tuning.status.sections;
      const spoken = sections.filter((s) => s.spoken_at_ms !== null).length;
      if (spoken && tuning.phase === "listening") {
        const of = sections.length;
        const hint = spoken < of ? " When it stops, say “next”." : "";
        $("tune-status").textContent = `Listening to part ${spoken} of ${of}.${hint}`;
      }
      if (finishedSpeaking(tuning.status)) await sendHeard();
    }
  }

  // The last part has been read: its parts and closing words heard, then quiet (or too long).
  function finishedSpeaking(status) {
    if (!status.done_speaking) return false;
    const last = status.sections[status.sections.length - 1];
    if (serverNow() > last.spoken_at_ms + LAST_PART_MAX_MS) return true;
    const found = tuning.listener.heard().stretches;
    const after = SciaticaListening.parts(found, status.separator_min_ms).filter(
      ([, end]) => end > last.spoken_at_ms,
    );
    if (after.length < last.parts + 1) return false;
    return serverNow() - after[after.length - 1][1] >= QUIET_AFTER_MS;
  }

  async function sendHeard() {
    const heard = tuning.listener.heard();
    stopListening("sending", "Working out how your speaker sounds…");
    tuning.sent = heard.stretches.length;
    let response;
    try {
      response = await fetch(API + "tuning/heard", {
        method: "POST",
        cache: "no-store",
        headers: { ...authHeaders(), "Content-Type": "application/json" },
        body: JSON.stringify({ sounds: heard.stretches }),
      });
    } catch (err) {
      return setTuning("failed", "Can't reach the coach to finish tuning; try again.");
    }
    const body = await response.json().catch(() => ({}));
    $("tune-close").textContent = "Done";
    if (response.ok) {
      tuning.result = body;
      const delay = (body.start_delay_ms / 1000).toFixed(1);
      return setTuning("tuned", `Tuned. Your speaker starts ${delay} s after Alexa answers; the buzzes now follow it.`);
    }
    const why = body.detail || `the coach answered ${response.status}`;
    setTuning("failed", `That didn't work: ${why} Tap listen to try again.`);
  }

  async function closeTuning() {
    const listening = tuning.phase === "listening" || tuning.phase === "asking";
    stopListening("idle", "");
    if (listening && watch.token) {
      try {
        await fetch(API + "tuning", { method: "DELETE", headers: authHeaders() });
      } catch (err) {
        // it runs out on the server by itself
      }
    }
    show("routine");
    draw();
  }

  // -- pairing -----------------------------------------------------------------------------

  async function pair() {
    show("pairing");
    for (;;) {
      let start;
      try {
        const response = await fetch(API + "pairings", { method: "POST", cache: "no-store" });
        if (!response.ok) throw new Error(`pairing start: ${response.status}`);
        start = await response.json();
      } catch (err) {
        $("pairing-status").textContent = "Can't reach the coach; retrying…";
        await sleep(RETRY_MS * 2);
        continue;
      }
      $("user-code").textContent = start.user_code_spoken;
      $("pairing-status").textContent = "Waiting for Alexa…";
      const token = await waitForToken(start);
      if (token) {
        watch.token = token;
        localStorage.setItem(TOKEN_KEY, token);
        return;
      }
      $("pairing-status").textContent = "That code expired; here is a new one.";
    }
  }

  async function waitForToken(start) {
    let interval = start.interval;
    const expires = Date.now() + start.expires_in * 1000;
    while (Date.now() < expires) {
      await sleep(interval * 1000);
      let response;
      let body;
      try {
        response = await fetch(API + "token", {
          method: "POST",
          cache: "no-store",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: GRANT, device_code: start.device_code }),
        });
        body = await response.json();
      } catch (err) {
        continue;
      }
      if (response.ok) return body.access_token;
      if (body.error === "authorization_pending") continue;
      if (body.error === "slow_down") {
        interval += 5; // RFC 8628 3.5
        continue;
      }
      return null; // expired_token, access_denied, invalid_grant: start again
    }
    return null;
  }

  function forgetToken() {
    watch.token = null;
    watch.etag = null;
    watch.snapshot = null;
    person.history = null;
    person.historyToken = null;
    person.settings = null;
    drawHistory();
    schedule([]);
    localStorage.removeItem(TOKEN_KEY);
  }

  // -- polling and actions -----------------------------------------------------------------

  function authHeaders() {
    return { Authorization: `Bearer ${watch.token}` };
  }

  // One poll; throws when the coach cannot be reached (or answers something unreadable).
  async function pollOnce() {
    const resync = link.state === "offline";
    if (resync) {
      // Back from offline: the whole run afresh (no ETag, no waiting), and a clock estimate
      // from the answers from now on, since this clock may have drifted or jumped meanwhile.
      watch.etag = null;
      watch.samples = [];
    }
    const headers = authHeaders();
    const wait = watch.etag ? LONG_POLL_S : 0;
    if (watch.etag) headers["If-None-Match"] = watch.etag;
    const poll = new AbortController();
    const deadline = setTimeout(() => poll.abort(), POLL_DEADLINE_MS);
    link.poll = poll;
    try {
      const t0 = Date.now();
      const response = await fetch(`${API}cues?wait=${wait}&client_send_ms=${t0}`, {
        headers,
        cache: "no-store",
        signal: poll.signal,
      });
      const t3 = Date.now();
      if (response.status === 401) return "unpaired";
      const snap = response.status === 200 ? await response.json() : null;
      if (response.status !== 200 && response.status !== 304) {
        await sleep(RETRY_MS); // the coach (or a proxy before it) answered, but not with cues
        return "ok";
      }
      addClockSample(
        t0,
        Number(response.headers.get("Server-Receive-Ms")),
        Number(response.headers.get("Server-Send-Ms")),
        t3,
      );
      reachedTheCoach(resync);
      if (snap) applySnapshot(snap, response.headers.get("ETag"));
      return "ok";
    } finally {
      clearTimeout(deadline);
      if (link.poll === poll) link.poll = null;
    }
  }

  function reachedTheCoach(resync) {
    link.failures = 0;
    link.waits = [];
    if (resync) link.resyncs += 1;
    setLink("online");
    if (resync && person.historyToken !== watch.token) loadHistory();
  }

  // A failed poll: the schedule stays as it is; wait longer after each failure in a row (with
  // jitter, so many watches back from one outage do not come back at once), or until the
  // browser says the network is back.
  async function lostTheCoach() {
    link.failures += 1;
    setLink("offline");
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (link.failures - 1));
    const wait = Math.round(ceiling * (0.5 + Math.random() / 2));
    link.waits.push(wait);
    if (link.waits.length > BACKOFF_KEPT) link.waits.shift();
    link.retryAt = Date.now() + wait;
    link.woken = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve("timer"), wait);
      link.wake = (why) => {
        clearTimeout(timer);
        resolve(why);
      };
    });
    link.wake = null;
    link.retryAt = null;
  }

  window.addEventListener("online", () => {
    if (link.wake) link.wake("online");
  });
  // The browser knows first: say so now, and give up on a poll that can no longer answer.
  window.addEventListener("offline", () => {
    if (!watch.token) return;
    setLink("offline");
    if (link.poll) link.poll.abort();
  });

  async function act(action) {
    if (!watch.token) return;
    let response;
    try {
      response = await fetch(API + "actions", {
        method: "POST",
        cache: "no-store",
        headers: { ...authHeaders(), "Content-Type": "application/json" },
        body: JSON.stringify({ action }),
      });
      if (response.status === 200) {
        applySnapshot(await response.json(), response.headers.get("ETag"));
      } else if (response.status === 401) {
        forgetToken();
      }
    } catch (err) {
      notify("Can't reach the coach; try again.");
    }
  }

  async function unpair() {
    if (watch.token) {
      try {
        const response = await fetch(API + "devices/me", {
          method: "DELETE",
          headers: authHeaders(),
        });
        if (response.status !== 204 && response.status !== 401) throw new Error("refused");
      } catch (err) {
        // The token still works on the server: keep it, so unpairing can be tried again.
        notify("Can't reach the coach to unpair; try again.");
        return;
      }
    }
    forgetToken();
  }

  async function main() {
    for (;;) {
      if (!watch.token) await pair();
      if (face.dataset.screen !== "tuning" && face.dataset.screen !== "settings") show("routine");
      draw();
      if (person.historyToken !== watch.token) loadHistory(); // once per opening (or pairing)
      while (watch.token) {
        let outcome;
        try {
          outcome = await pollOnce();
        } catch (err) {
          await lostTheCoach();
          continue;
        }
        if (outcome === "unpaired") forgetToken();
      }
    }
  }

  // Installable, and the shell opens offline: the worker sits at watch/sw.js and may control
  // the face's own URL (its server allows that scope), under a path prefix too.
  async function keepTheShell() {
    if (!("serviceWorker" in navigator)) {
      face.dataset.shell = "unsupported"; // not a secure context, or an old browser
      return;
    }
    try {
      await navigator.serviceWorker.register("watch/sw.js", { scope: "watch" });
      await navigator.serviceWorker.ready;
      face.dataset.shell = "kept";
    } catch (err) {
      face.dataset.shell = "failed"; // the face works as before, only not offline
    }
  }

  document.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => act(button.dataset.action));
  });
  $("unpair").addEventListener("click", unpair);
  $("tune").addEventListener("click", openTuning);
  $("tune-start").addEventListener("click", startListening);
  $("tune-close").addEventListener("click", closeTuning);
  $("open-settings").addEventListener("click", openSettings);
  $("hands-free").addEventListener("click", toggleHandsFree);
  $("settings-close").addEventListener("click", closeSettings);
  document.querySelectorAll("[data-enable]").forEach((button) => {
    button.addEventListener("click", enable);
  });
  setInterval(draw, 100);
  drawLink();
  // Read-only for anyone who asks (diagnostics, the face's tests): every buzz and its aim.
  Object.defineProperty(window, "sciaticaWatch", {
    value: Object.freeze({
      buzzes: () => buzzLog.map((entry) => ({ ...entry })),
      history: () => (person.history ? JSON.parse(JSON.stringify(person.history)) : null),
      network: () => ({
        state: link.state,
        failures: link.failures,
        waits_ms: [...link.waits],
        resyncs: link.resyncs,
        woken: link.woken,
        retry_in_ms: link.retryAt === null ? null : link.retryAt - Date.now(),
      }),
      clock: () => ({
        offset_ms: watch.offsetMs,
        error_ms: watch.offsetErrorMs,
        samples: watch.samples.map((sample) => ({ ...sample })),
      }),
      tuning: () => ({
        phase: tuning.phase,
        listening_from_ms: tuning.listener ? tuning.listener.firstMs : null,
        levels_kept: tuning.listener ? tuning.listener.levelsKept : 0,
        sent: tuning.sent,
        result: tuning.result,
      }),
    }),
  });
  keepTheShell();
  main();
})();
