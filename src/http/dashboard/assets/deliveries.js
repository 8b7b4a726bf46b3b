// Webhook deliveries that could not be processed, with a button to process one again.

import { api, path, query } from './api.js';
import { badge, debounce, h, message, pager, when } from './dom.js';

const PAGE = 50;
const STATUSES = ['failed', 'parked', 'pending', 'processed', 'ignored'];

export function deliveriesView(container) {
  const state = { status: 'failed', offset: 0 };
  const filter = h('select', { id: 'delivery-status', 'aria-label': 'Delivery status', onchange: () => {
    state.status = filter.value;
    state.offset = 0;
    refresh();
  } }, STATUSES.map((s) => h('option', { value: s }, s)), h('option', { value: '' }, 'all'));
  const notice = h('div', { id: 'delivery-notice' });
  const body = h('tbody');
  const footer = h('div');
  container.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Deliveries'), filter),
    h('p', { class: 'muted' }, 'A failed delivery is retried by itself (30 s, doubling) up to 5 attempts, then parked. ',
      'Replay processes its stored body again now, whatever its state.'),
    notice,
    h('table', { id: 'deliveries', class: 'grid' },
      h('thead', {}, h('tr', {}, ['Received', 'Event', 'Repository', 'Status', 'Attempts', 'Last error', 'Next attempt', ''].map((c) => h('th', {}, c)))),
      body),
    footer);
  let generation = 0;
  const reload = debounce(() => refresh(), 500);

  async function refresh() {
    const mine = ++generation;
    let data;
    try {
      data = await api(`/api/deliveries${query({ status: state.status, limit: PAGE, offset: state.offset })}`);
    } catch (err) {
      notice.replaceChildren(message(`Could not load the deliveries: ${err.message}`));
      return;
    }
    if (mine !== generation) return;
    body.replaceChildren(...data.deliveries.map((d) => row(d, replay)));
    if (data.deliveries.length === 0) {
      body.append(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, state.status ? `No ${state.status} deliveries.` : 'No deliveries.')));
    }
    footer.replaceChildren(pager({ offset: state.offset, limit: PAGE, count: data.count }, (offset) => {
      state.offset = offset;
      refresh();
    }));
  }

  async function replay(delivery, button) {
    button.disabled = true;
    button.textContent = 'Replaying…';
    try {
      const result = await api(`/api/deliveries/${path(delivery.delivery_id)}/replay`, { method: 'POST', body: {} });
      notice.replaceChildren(message(`Replayed ${delivery.delivery_id}: ${result.status}.`, result.status === 'failed' || result.status === 'parked' ? 'error' : 'info'));
      if (result.delivery) button.closest('tr').replaceWith(row(result.delivery, replay));
    } catch (err) {
      notice.replaceChildren(message(`Replay of ${delivery.delivery_id} failed: ${err.message}`));
      button.disabled = false;
      button.textContent = 'Replay';
    }
  }

  return {
    refresh,
    // Other deliveries arriving or being retried change the list.
    onEvent({ type }) {
      if (type === 'delivery' || type === 'resync') reload();
    },
    dispose() {
      generation++;
      reload.cancel();
    },
  };
}

function row(d, replay) {
  const button = h('button', { type: 'button', class: 'replay', onclick: () => replay(d, button) }, 'Replay');
  return h('tr', { dataset: { deliveryId: d.delivery_id } },
    h('td', {}, when(d.received_at)),
    h('td', {}, d.event, d.action ? h('span', { class: 'muted' }, `.${d.action}`) : null,
      h('div', { class: 'muted small' }, h('code', {}, d.delivery_id))),
    h('td', {}, d.repository || '—'),
    h('td', { dataset: { field: 'status' } }, badge(d.status)),
    h('td', { dataset: { field: 'attempts' } }, String(d.attempts)),
    h('td', { class: 'error-text' }, d.last_error || '—'),
    h('td', {}, d.next_attempt_at ? when(d.next_attempt_at) : '—'),
    h('td', {}, button));
}
