// Live updates from /api/events. EventSource cannot send the CCM-Token header, so the stream is
// read with fetch() and parsed here (the text/event-stream format), which keeps the token out of
// URLs and logs. It reconnects with Last-Event-ID after a drop.

import { headers, refused } from './api.js';

// The text/event-stream format: `field: value` lines, an empty line ends an event.
export class EventParser {
  constructor(dispatch, retry) {
    this.dispatch = dispatch;
    this.retry = retry;
    this.buffer = '';
    this.reset();
  }

  reset() {
    this.event = '';
    this.data = [];
    this.id = null;
  }

  push(text) {
    this.buffer += text;
    for (;;) {
      const end = this.buffer.search(/\r\n|\n|\r/);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (end < 0 || (this.buffer[end] === '\r' && end === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + (this.buffer.startsWith('\r\n', end) ? 2 : 1));
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length > 0 || this.id !== null) {
        this.dispatch({ type: this.event || 'message', data: this.data.join('\n'), id: this.id });
      }
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry(Number(value));
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class LiveStream {
  // onEvent({type, data, id}) for each event; onState('connecting'|'open'|'reconnecting'|'off');
  // onOpen() each time the stream (re)opens, so views re-read what they show.
  constructor({ url, onEvent, onState, onOpen }) {
    Object.assign(this, { url, onEvent, onState, onOpen });
    this.lastId = null;
    this.retry = 3000;
    this.running = false;
    this.generation = 0;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.run(++this.generation);
  }

  stop() {
    this.running = false;
    if (this.controller) this.controller.abort();
    this.onState('off');
  }

  // `generation`: a loop still sleeping after stop() must not run beside the next start()'s.
  async run(generation) {
    const current = () => this.running && generation === this.generation;
    this.onState('connecting');
    while (current()) {
      this.controller = new AbortController();
      try {
        const extra = { Accept: 'text/event-stream' };
        if (this.lastId !== null) extra['Last-Event-ID'] = this.lastId;
        const res = await fetch(this.url, { headers: headers(extra), cache: 'no-store', signal: this.controller.signal });
        if (res.status === 401) {
          this.stop();
          refused();
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        this.onState('open');
        this.onOpen();
        await this.read(res.body);
      } catch (err) {
        if (!current()) return;
        console.warn('ccm live updates:', err.message);
      }
      if (!current()) return;
      this.onState('reconnecting');
      await sleep(this.retry);
    }
  }

  async read(body) {
    const parser = new EventParser((event) => {
      if (event.id !== null) this.lastId = event.id;
      let data = null;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onEvent({ type: event.type, data, id: event.id });
    }, (ms) => {
      this.retry = Math.max(1000, ms);
    });
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  }
}
