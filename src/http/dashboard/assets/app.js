// The dashboard: sign-in, navigation between views (in the URL's #fragment), live updates.

import { ApiError, api, canWrite, loadScope, onUnauthorized, path, token } from './api.js';
import { h, message, tickTimes } from './dom.js';
import { LiveStream } from './stream.js';
import { pipelinesView } from './pipelines.js';
import { pipelineView } from './pipeline.js';
import { tasksView } from './tasks.js';
import { deliveriesView } from './deliveries.js';

const main = document.getElementById('main');
const banner = document.getElementById('alerts');
const live = document.getElementById('live');
let view = null;

const LIVE_TEXT = { connecting: 'connecting…', open: 'live', reconnecting: 'reconnecting…', off: '' };

const stream = new LiveStream({
  url: '/api/events',
  onEvent: (event) => {
    if (event.type === 'alert') refreshAlerts();
    if (view) view.onEvent(event);
  },
  onState: (state) => {
    live.dataset.state = state;
    live.textContent = LIVE_TEXT[state];
    live.title = state === 'open' ? 'Receiving live updates' : '';
  },
  // Whatever changed while the stream was closed is read again.
  onOpen: () => {
    refreshAlerts();
    if (view) view.refresh();
  },
});

// Issue 16: the firing alerts, above every view; a write token may acknowledge them (a read-only
// token is shown no button).
async function refreshAlerts() {
  let data;
  try {
    data = await api('/api/alerts?state=firing&limit=20');
  } catch {
    return;
  }
  banner.hidden = data.total === 0;
  banner.replaceChildren(
    h('strong', {}, data.total === 1 ? '1 firing alert' : `${data.total} firing alerts`),
    ...data.alerts.map((a) => h('div', { class: 'alert-item', dataset: { alertId: a.id } },
      a.pipeline_id ? h('a', { href: `#/pipelines/${path(a.pipeline_id)}` }, a.summary) : a.summary,
      canWrite() ? h('button', { type: 'button', class: 'ack', onclick: () => acknowledge(a.id) }, 'Acknowledge') : null)));
}

async function acknowledge(id) {
  try {
    await api(`/api/alerts/${path(id)}/ack`, { method: 'POST' });
  } catch (err) {
    if (err.status === 403) {
      document.body.dataset.readOnly = 'true';
      banner.append(message('Acknowledging an alert needs a write token.'));
      return;
    }
    banner.append(message(`Could not acknowledge the alert: ${err.message}`));
    return;
  }
  refreshAlerts();
}

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const [name, ...rest] = hash.split('/');
  if (name === 'pipelines' && rest.length > 0 && rest[0]) return { name: 'pipelines', make: (el) => pipelineView(el, rest.join('/')) };
  if (name === 'tasks') return { name: 'tasks', make: tasksView };
  if (name === 'deliveries') return { name: 'deliveries', make: deliveriesView };
  return { name: 'pipelines', make: pipelinesView };
}

// The token's scope, asked once per sign-in (a failure brings the form back, saying why).
let scopeKnown = false;

async function show() {
  if (!token.get()) return signIn();
  if (!scopeKnown) {
    try {
      await loadScope();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) signIn(`Could not sign in: ${err.message}`);
      return;
    }
    scopeKnown = true;
  }
  document.body.dataset.signedIn = 'true';
  if (view) view.dispose();
  const { name, make } = route();
  for (const link of document.querySelectorAll('.nav a')) {
    link.classList.toggle('current', link.dataset.view === name);
  }
  main.replaceChildren();
  view = make(main);
  view.refresh();
  refreshAlerts();
  stream.start();
}

function signIn(notice, kind = 'error') {
  // Several requests refused at once: the form is shown once and keeps what is typed in it.
  const shown = document.querySelector('#sign-in .form-status');
  if (shown) {
    if (notice) shown.replaceChildren(message(notice, kind));
    return;
  }
  if (view) view.dispose();
  view = null;
  scopeKnown = false;
  stream.stop();
  document.body.dataset.signedIn = 'false';
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true,
    spellcheck: 'false', placeholder: 'CCM-Token',
  });
  const status = h('div', { class: 'form-status' }, notice ? message(notice, kind) : null);
  const form = h('form', { id: 'sign-in', class: 'sign-in', onsubmit: submit },
    h('h1', {}, 'Sign in to ccm'),
    h('p', { class: 'muted' },
      'Enter an API token: one of CCM_API_TOKEN, or the generated one in CCM_DATA_DIR/api-token. ',
      'It stays in this browser and is sent only in the CCM-Token header.'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    status);
  main.replaceChildren(form);
  input.focus();

  async function submit(event) {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    token.set(value);
    status.replaceChildren(message('Checking…', 'info'));
    try {
      await api('/api/pipelines?limit=1');
    } catch (err) {
      // A refused token has already brought this form back, saying so.
      if (err instanceof ApiError && err.status === 401) return;
      token.clear();
      status.replaceChildren(message(`Could not sign in: ${err.message}`));
      return;
    }
    show();
  }
}

onUnauthorized(() => {
  token.clear();
  signIn('The server refused this token (401 Invalid CCM-Token). Enter a valid token.');
});

document.getElementById('sign-out').addEventListener('click', (event) => {
  event.preventDefault();
  token.clear();
  history.replaceState(null, '', '#/');
  signIn('Signed out: the token was removed from this browser.', 'info');
});

window.addEventListener('hashchange', () => token.get() && show());
setInterval(tickTimes, 15000);
show();
