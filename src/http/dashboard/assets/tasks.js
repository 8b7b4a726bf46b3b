// Research tasks and the GitHub issues they are synced with. Tasks have no live events: the
// list is read when the view opens, when the stream reconnects and on "Refresh".

import { api, query } from './api.js';
import { badge, externalLink, h, message, pager, when } from './dom.js';

const PAGE = 100;

export function tasksView(container) {
  const state = { status: '', priority: '', offset: 0 };
  const select = (id, label, key, values) => h('select', { id, 'aria-label': label, onchange: (e) => {
    state[key] = e.target.value;
    state.offset = 0;
    refresh();
  } }, h('option', { value: '' }, `Any ${label.toLowerCase()}`), values.map((v) => h('option', { value: v }, v.replace('_', ' '))));
  const notice = h('div');
  const body = h('tbody');
  const footer = h('div');
  container.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Tasks'),
      select('task-status', 'Status', 'status', ['todo', 'in_progress', 'done']),
      select('task-priority', 'Priority', 'priority', ['high', 'medium', 'low']),
      h('button', { type: 'button', onclick: () => refresh() }, 'Refresh')),
    notice,
    h('table', { id: 'tasks', class: 'grid' },
      h('thead', {}, h('tr', {}, ['#', 'Title', 'Status', 'Priority', 'Labels', 'Issue', 'Updated'].map((c) => h('th', {}, c)))),
      body),
    footer);
  let generation = 0;

  async function refresh() {
    const mine = ++generation;
    let data;
    try {
      data = await api(`/api/tasks${query({ status: state.status, priority: state.priority, limit: PAGE, offset: state.offset })}`);
    } catch (err) {
      notice.replaceChildren(message(`Could not load the tasks: ${err.message}`));
      return;
    }
    if (mine !== generation) return;
    notice.replaceChildren();
    body.replaceChildren(...data.tasks.map(row));
    if (data.tasks.length === 0) body.append(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No tasks.')));
    footer.replaceChildren(pager({ offset: state.offset, limit: PAGE, count: data.count }, (offset) => {
      state.offset = offset;
      refresh();
    }));
  }

  return { refresh, onEvent() {}, dispose() { generation++; } };
}

function row(t) {
  const issue = t.issue
    ? [externalLink(t.issue.url, `${t.issue.repository}#${t.issue.number}`), t.issue.deleted ? [' ', badge('deleted', 'warn')] : null]
    : h('span', { class: 'muted' }, '—');
  return h('tr', { dataset: { taskId: t.id } },
    h('td', {}, String(t.id)),
    h('td', {}, t.title, t.sync && t.sync.pending ? h('span', { class: 'muted small', title: 'A change is waiting to be written to the issue' }, ' (syncing)') : null),
    h('td', {}, badge(t.status)),
    h('td', {}, badge(t.priority)),
    h('td', {}, (t.labels || []).map((l) => h('span', { class: 'label' }, l))),
    h('td', {}, issue),
    h('td', {}, when(t.updated_at)));
}
