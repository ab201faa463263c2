// An AudioWorklet that turns the microphone into loudness: the mean square of every 5 ms.
//
// Only these levels leave the audio thread, never a sample, so nothing that was said can be
// played back or kept: the face turns them into where sound started and stopped.
"use strict";

const FRAME_S = 0.005;
const BATCH = 40; // levels per message: 200 ms

class LevelMeter extends AudioWorkletProcessor {
  constructor() {
    super();
    this.frame = Math.max(1, Math.round(sampleRate * FRAME_S));
    this.sum = 0;
    this.count = 0;
    this.levels = [];
    this.first = 0; // the context frame at which this.levels[0] began
    this.frameStart = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const length = channels[0].length;
    for (let i = 0; i < length; i++) {
      let x = 0;
      for (const channel of channels) x += channel[i];
      x /= channels.length;
      if (this.count === 0) this.frameStart = currentFrame + i;
      this.sum += x * x;
      this.count += 1;
      if (this.count === this.frame) {
        if (this.levels.length === 0) this.first = this.frameStart;
        this.levels.push(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
        if (this.levels.length >= BATCH) {
          this.port.postMessage({ first: this.first, frame: this.frame, levels: this.levels });
          this.levels = [];
        }
      }
    }
    return true;
  }
}

registerProcessor("level-meter", LevelMeter);
