// The pipelines table: one row per pipeline with its stats, updated by live `stats` events.

import { provisionForm } from './actions.js';
import { api, path, query } from './api.js';
import { sparkline } from './charts.js';
import { badge, debounce, duration, fill, h, healthKind, message, pager, when } from './dom.js';

const PAGE = 50;
const COLUMNS = ['Pipeline', 'Status', 'Success rate (24 h)', 'Avg duration', 'Health', 'Runs (14 days)', 'Active runs', 'Last run', 'Linked domain'];
// Reports asked at once for the sparklines of a page.
const SPARKLINE_READS = 3;

export function pipelinesView(container) {
  // `elsewhere`: pipelines with live events that a reload showed are not on this page.
  const state = { status: 'active', offset: 0, rows: new Map(), unknown: new Set(), elsewhere: new Set() };
  const filter = h('select', { id: 'pipeline-status', 'aria-label': 'Pipeline status', onchange: () => {
    state.status = filter.value;
    state.offset = 0;
    state.elsewhere.clear();
    refresh();
  } }, h('option', { value: 'active' }, 'Active'), h('option', { value: 'inactive' }, 'Inactive'), h('option', { value: '' }, 'All'));
  const notice = h('div');
  const body = h('tbody');
  const footer = h('div');
  // Issue 18: the last backup of the SQLite database (hidden on PostgreSQL, which pg_dump backs up).
  const backupLine = h('p', { id: 'last-backup', class: 'muted small', hidden: true });
  container.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Pipelines'), filter),
    provisionForm(notice, (id) => { location.hash = `#/pipelines/${encodeURIComponent(id)}`; }) || '',
    notice,
    h('table', { id: 'pipelines', class: 'grid' }, h('thead', {}, h('tr', {}, COLUMNS.map((c) => h('th', {}, c)))), body),
    footer,
    backupLine);
  let generation = 0;
  // A pipeline this page does not show (provisioned meanwhile, shown first) brings one reload.
  const reload = debounce(() => refresh(), 500);

  async function refresh() {
    const mine = ++generation;
    let list;
    try {
      list = await api(`/api/pipelines${query({ status: state.status, limit: PAGE, offset: state.offset, include: 'stats' })}`);
    } catch (err) {
      notice.replaceChildren(message(`Could not load the pipelines: ${err.message}`));
      return;
    }
    if (mine !== generation) return;
    notice.replaceChildren();
    state.rows = new Map(list.pipelines.map((p) => [p.pipeline_id, row(p)]));
    for (const id of state.unknown) if (!state.rows.has(id)) state.elsewhere.add(id);
    state.unknown.clear();
    body.replaceChildren(...state.rows.values());
    if (list.pipelines.length === 0) {
      body.append(h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'empty' }, 'No pipelines yet: provision one with POST /api/pipelines/provision.')));
    }
    footer.replaceChildren(pager({ offset: state.offset, limit: PAGE, count: list.count }, (offset) => {
      state.offset = offset;
      refresh();
    }));
    // The page came with each pipeline's stats (include=stats): one request for the table.
    for (const p of list.pipelines) showStats(p.stats);
    drawSparklines(list.pipelines.map((p) => p.pipeline_id), mine);
    showBackup();
  }

  // Each pipeline's runs per day over 14 days, from its report, a few reports at a time; drawn
  // when the page is loaded (live stats events leave them).
  async function drawSparklines(ids, mine) {
    const queue = [...ids];
    const worker = async () => {
      while (queue.length > 0 && mine === generation) {
        const id = queue.shift();
        let report;
        try {
          report = await api(`/api/pipelines/${path(id)}/report?days=14`);
        } catch (err) {
          const tr = state.rows.get(id);
          if (tr) cell(tr, 'trend').replaceChildren(h('span', { class: 'muted', title: err.message }, '—'));
          continue;
        }
        const tr = state.rows.get(id);
        if (tr && mine === generation) cell(tr, 'trend').replaceChildren(sparkline(report.performance.daily));
      }
    };
    await Promise.all(Array.from({ length: SPARKLINE_READS }, worker));
  }

  async function showBackup() {
    let latest;
    try {
      latest = await api('/api/backups/latest');
    } catch {
      return;
    }
    backupLine.hidden = latest.database !== 'sqlite';
    const b = latest.backup;
    backupLine.replaceChildren(...(b
      ? ['Last backup: ', h('span', { title: b.file }, b.taken_at.replace('T', ' ').replace('Z', ' UTC')),
        ` (${size(b.bytes)})`]
      : ['No backup yet: ccm backup, or CCM_BACKUP_INTERVAL for scheduled ones.']));
  }

  function showStats(stats) {
    const tr = state.rows.get(stats.pipeline_id);
    if (!tr) return;
    const m = stats.metrics_24h;
    tr.dataset.loaded = 'true';
    cell(tr, 'status').replaceChildren(badge(stats.status));
    cell(tr, 'success-rate').replaceChildren(m.run_count > 0
      ? h('span', { title: `${m.success_count} of ${m.run_count} completed runs succeeded` }, `${m.success_rate.toFixed(1)}%`)
      : h('span', { class: 'muted', title: 'No completed run in the last 24 hours' }, '—'));
    cell(tr, 'avg-duration').replaceChildren(m.run_count > 0 ? duration(m.avg_duration_seconds) : '—');
    cell(tr, 'health').replaceChildren(badge(String(stats.health_score), healthKind(stats.health_score)));
    fill(cell(tr, 'active-runs'), String(stats.active_runs),
      stats.queue_length > 0 ? h('span', { class: 'muted' }, ` (+${stats.queue_length} queued)`) : null);
    const last = stats.last_run;
    fill(cell(tr, 'last-run'), last
      ? [badge(last.status), ' ', when(last.timestamp), last.branch ? h('span', { class: 'muted' }, ` on ${last.branch}`) : null]
      : h('span', { class: 'muted' }, 'none yet'));
  }

  return {
    refresh,
    onEvent({ type, data }) {
      if (type === 'stats') {
        const id = data.pipeline_id;
        if (state.rows.has(id)) {
          showStats(data);
        } else if (state.offset === 0 && !state.elsewhere.has(id)) {
          state.unknown.add(id);
          reload();
        }
      } else if (type === 'resync') {
        reload();
      }
    },
    dispose() {
      generation++;
      reload.cancel();
    },
  };
}

function row(p) {
  const link = h('a', { href: `#/pipelines/${encodeURIComponent(p.pipeline_id)}` }, p.repository);
  const domain = p.vps_integration && p.vps_integration.linked_domain;
  return h('tr', { dataset: { pipelineId: p.pipeline_id } },
    h('td', {}, link, h('div', { class: 'muted small' }, p.workflow_file)),
    h('td', { dataset: { field: 'status' } }, badge(p.status)),
    h('td', { dataset: { field: 'success-rate' } }, '…'),
    h('td', { dataset: { field: 'avg-duration' } }, '…'),
    h('td', { dataset: { field: 'health' } }, '…'),
    h('td', { dataset: { field: 'trend' } }, '…'),
    h('td', { dataset: { field: 'active-runs' } }, '…'),
    h('td', { dataset: { field: 'last-run' } }, '…'),
    h('td', { dataset: { field: 'domain' } }, domain || h('span', { class: 'muted' }, '—')));
}

function cell(tr, field) {
  return tr.querySelector(`[data-field="${field}"]`);
}

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
