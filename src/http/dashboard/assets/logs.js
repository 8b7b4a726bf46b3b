// A job's log: its end first (the last lines are where a failure shows), the whole kept log on
// request, ANSI colour codes stripped, error lines and the failed step's section marked, and a
// search that keeps only the matching lines.

import { text } from './api.js';
import { h, message } from './dom.js';

const TAIL = 500;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const STAMP = /^\d{4}-\d\d-\d\dT[\d:.]+Z /;

export function logViewer(url, job) {
  const search = h('input', { type: 'search', class: 'log-search', placeholder: 'search', 'aria-label': 'Search the log' });
  const count = h('span', { class: 'muted small log-count' });
  const all = h('button', { type: 'button', class: 'small log-all' }, 'Whole log');
  const body = h('pre', { class: 'log' }, '…');
  const status = h('div');
  const panel = h('div', { class: 'log-viewer', dataset: { logOf: job.job_id } },
    h('div', { class: 'toolbar' }, h('strong', {}, `Log of ${job.name}`),
      job.failed_step ? h('span', { class: 'muted small' }, `failed step: ${job.failed_step}`) : null,
      search, count, all),
    status, body);
  let lines = [];

  function show() {
    const wanted = search.value.trim().toLowerCase();
    const shown = wanted ? lines.filter((l) => l.text.toLowerCase().includes(wanted)) : lines;
    body.replaceChildren(...shown.map((l) => h('div', { class: `log-line${l.error ? ' error' : ''}${l.failedStep ? ' failed-step' : ''}` }, l.text)));
    count.textContent = wanted ? `${shown.length} of ${lines.length} lines` : `${lines.length} lines`;
  }

  async function load(tail) {
    status.replaceChildren();
    let raw;
    try {
      raw = await text(tail ? `${url}?tail=${tail}` : url);
    } catch (err) {
      body.replaceChildren();
      status.replaceChildren(message(err.message));
      return;
    }
    let inFailedStep = false;
    lines = raw.replace(ANSI, '').split('\n').filter((l, i, a) => l !== '' || i < a.length - 1).map((l) => {
      const line = l.replace(STAMP, '');
      if (line.startsWith('##[group]')) inFailedStep = Boolean(job.failed_step) && line.includes(job.failed_step.replace(/^Run /, ''));
      return { text: line, error: line.includes('##[error]'), failedStep: inFailedStep };
    });
    all.hidden = !tail || lines.length < tail;
    show();
  }

  search.addEventListener('input', show);
  all.addEventListener('click', () => load(null));
  load(TAIL);
  return panel;
}
