// Listening for the speaker while it reads the calibration script: levels in, stretches out.
//
// The microphone's audio never leaves the audio thread (level-meter.js hands over only the
// loudness of every 5 ms); this turns those levels into where sound started and stopped,
// on the server's clock, with the same rules as the server's own recording reader
// (sciatica_coach/recording.py): a noise floor from the quietest frames, a threshold part
// way up to the loudest, short gaps closed and blips dropped.
"use strict";

const SciaticaListening = (function () {
  const CLOSE_GAP_MS = 80; // silence inside a word (a stop consonant)
  const MIN_SOUND_MS = 60; // shorter is a click or a breath
  const THRESHOLD_SHARE = 0.35; // from the floor toward the loud frames, in decibels
  const MIN_SPEECH_DB = 15; // loud frames this far above the floor, or there is no speech
  const DIGITAL_SILENCE_DB = -90; // padding, not the room

  // numpy's default percentile: linear between the two nearest ranks of a sorted array.
  function percentile(sorted, q) {
    const at = (sorted.length - 1) * q;
    const low = Math.floor(at);
    const high = Math.min(sorted.length - 1, low + 1);
    return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
  }

  // times[i]: the server-clock ms at which frame i began; db[i] its level; frameMs long.
  function stretches(times, db, frameMs) {
    if (db.length < 10) return { error: "nothing heard yet", stretches: [] };
    const room = db.filter((x) => x > DIGITAL_SILENCE_DB);
    const floor = percentile(Float64Array.from(room.length ? room : db).sort(), 0.1);
    const loud = percentile(Float64Array.from(db).sort(), 0.99);
    if (loud - floor < MIN_SPEECH_DB) return { error: "no speech heard", stretches: [] };
    const threshold = floor + THRESHOLD_SHARE * (loud - floor);
    const closed = [];
    let start = -1;
    for (let i = 0; i <= db.length; i++) {
      const on = i < db.length && db[i] > threshold;
      if (on && start < 0) start = i;
      if (!on && start >= 0) {
        const run = [times[start], times[i - 1] + frameMs];
        const last = closed[closed.length - 1];
        if (last && run[0] - last[1] < CLOSE_GAP_MS) last[1] = run[1];
        else closed.push(run);
        start = -1;
      }
    }
    const kept = closed
      .filter(([a, b]) => b - a >= MIN_SOUND_MS)
      .map(([a, b]) => [Math.round(a * 10) / 10, Math.round(b * 10) / 10]);
    return { error: null, stretches: kept };
  }

  // Stretches closer than gapMs are one part of the script.
  function parts(found, gapMs) {
    const out = [];
    for (const [a, b] of found) {
      const last = out[out.length - 1];
      if (last && a - last[1] < gapMs) last[1] = Math.max(last[1], b);
      else out.push([a, b]);
    }
    return out;
  }

  // The microphone through the level meter; toServerMs(ctx, contextSeconds) places a frame.
  class Listener {
    constructor(toServerMs) {
      this.toServerMs = toServerMs;
      this.times = [];
      this.db = [];
      this.frameMs = 5;
      this.firstMs = null;
    }

    async start() {
      // The raw signal: echo cancelling and noise suppression would eat the speaker's voice.
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      const track = this.stream.getAudioTracks()[0];
      const settings = track && track.getSettings ? track.getSettings() : {};
      this.latencyMs = Number.isFinite(settings.latency) ? settings.latency * 1000 : 0;
      this.context = new AudioContext();
      await this.context.audioWorklet.addModule("watch/static/level-meter.js");
      const node = new AudioWorkletNode(this.context, "level-meter");
      node.port.onmessage = (event) => this.take(event.data);
      this.context.createMediaStreamSource(this.stream).connect(node);
      this.node = node;
    }

    take({ first, frame, levels }) {
      const rate = this.context.sampleRate;
      // What the microphone heard reached the context latencyMs after it was in the air.
      const at = this.toServerMs(this.context, first / rate) - this.latencyMs;
      this.frameMs = (frame / rate) * 1000;
      if (this.firstMs === null) this.firstMs = at;
      for (let i = 0; i < levels.length; i++) {
        this.times.push(at + i * this.frameMs);
        this.db.push(10 * Math.log10(levels[i] + 1e-12));
      }
    }

    heard() {
      return stretches(this.times, this.db, this.frameMs);
    }

    // Stop the microphone and forget every level: only the stretches were ever wanted.
    stop() {
      if (this.node) this.node.port.onmessage = null;
      if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
      if (this.context) this.context.close().catch(() => {});
      this.stream = null;
      this.context = null;
      this.node = null;
      this.times = [];
      this.db = [];
    }

    get levelsKept() {
      return this.db.length;
    }
  }

  return Object.freeze({ Listener, stretches, parts, percentile });
})();
