// DOM helpers. Elements are built with text nodes only, never from HTML strings, so nothing the
// API returns (repository names, error messages, job names) can inject markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  return fill(el, ...children);
}

// Replaces what `el` shows by `children` (nodes, text, nested lists; null and false are skipped).
export function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// Only http(s) links from the API become hrefs (never javascript: or data:).
export function externalLink(url, text) {
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) return text;
  return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, text);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export function relative(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  const s = Math.round((Date.now() - t) / 1000);
  const span = Math.abs(s);
  let text;
  if (span < 5) return 'just now';
  if (span < 60) text = `${span}s`;
  else if (span < 3600) text = `${Math.floor(span / 60)} min`;
  else if (span < 86400) text = `${Math.floor(span / 3600)} h`;
  else text = `${Math.floor(span / 86400)} d`;
  return s > 0 ? `${text} ago` : `in ${text}`;
}

// A time shown relative to now, with the exact time on hover; kept current by tickTimes().
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString() }, relative(iso));
}

export function tickTimes() {
  for (const el of document.querySelectorAll('time[datetime]')) el.textContent = relative(el.getAttribute('datetime'));
}

const KINDS = {
  success: 'ok', active: 'ok', processed: 'ok', done: 'ok', completed: 'ok',
  failure: 'bad', timed_out: 'bad', startup_failure: 'bad', failed: 'bad', parked: 'bad', high: 'bad',
  cancelled: 'warn', action_required: 'warn', stale: 'warn', medium: 'warn',
  in_progress: 'run', queued: 'run', requested: 'run', waiting: 'run', pending: 'run',
};

export function badge(text, kind) {
  const value = text === null || text === undefined ? '—' : String(text);
  return h('span', { class: `badge ${kind || KINDS[value] || 'neutral'}` }, value.replaceAll('_', ' '));
}

export function healthKind(score) {
  if (score >= 80) return 'ok';
  if (score >= 50) return 'warn';
  return 'bad';
}

export function shortSha(sha) {
  return typeof sha === 'string' ? sha.slice(0, 7) : '—';
}

export function message(text, kind = 'error') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

// Calls fn at most once per `ms`, after the last request: bursts of live events cost one reload.
export function debounce(fn, ms) {
  let timer = null;
  const call = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
  call.cancel = () => clearTimeout(timer);
  return call;
}

// Previous/next buttons for a page of `limit` items out of `count`.
export function pager({ offset, limit, count }, go) {
  const last = offset + limit >= count;
  const range = count === 0 ? '0' : `${offset + 1}–${Math.min(offset + limit, count)} of ${count}`;
  return h('div', { class: 'pager' },
    h('button', { type: 'button', disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, '‹ Previous'),
    h('span', { class: 'muted' }, range),
    h('button', { type: 'button', disabled: last, onclick: () => go(offset + limit) }, 'Next ›'));
}
