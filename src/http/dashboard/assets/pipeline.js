// One pipeline: its settings, stats, recent executions and their jobs, kept current by live events.

import { api, path } from './api.js';
import { pipelineActions, runActions } from './actions.js';
import { badge, debounce, duration, externalLink, fill, h, healthKind, message, shortSha, when } from './dom.js';
import { logViewer } from './logs.js';
import { deploymentsChart, reportCharts } from './charts.js';

const RUNS = 20;

export function pipelineView(container, id) {
  const base = `/api/pipelines/${path(id)}`;
  const header = h('div', { class: 'toolbar' }, h('h1', {}, 'Pipeline'), h('a', { href: '#/' }, '‹ All pipelines'));
  const notice = h('div');
  const about = h('dl', { id: 'pipeline-about', class: 'facts' });
  const actionNotice = h('div', { id: 'action-notice' });
  const actions = h('div');
  const cards = h('div', { id: 'pipeline-stats', class: 'cards' });
  const charts = h('div', { id: 'report-charts', class: 'charts' });
  const runs = h('tbody');
  container.append(header, notice, about, actions, actionNotice, cards,
    h('h2', {}, 'Last 14 days'), charts,
    h('h2', {}, 'Recent executions'),
    h('table', { id: 'executions', class: 'grid' },
      h('thead', {}, h('tr', {}, ['Run', 'Status', 'Branch', 'Commit', 'Event', 'Actor', 'Started', 'Duration', ''].map((c) => h('th', {}, c)))),
      runs));
  // Runs whose jobs are shown, by "run_id/attempt"; the latest is opened on first load.
  const open = new Set();
  // Jobs whose log is shown, by job id; their viewers are kept across live reloads (a search
  // typed in one stays).
  const openLogs = new Set();
  const viewers = new Map();
  let first = true;
  let gone = false;
  let generation = 0;
  const reload = debounce(() => refresh(), 300);

  async function refresh() {
    if (gone) return;
    const mine = ++generation;
    let details;
    let stats;
    try {
      [details, stats] = await Promise.all([api(`${base}?limit=${RUNS}`), api(`${base}/stats`)]);
    } catch (err) {
      notice.replaceChildren(message(err.status === 404 ? `No pipeline ${id}.` : `Could not load the pipeline: ${err.message}`));
      return;
    }
    if (gone || mine !== generation) return;
    notice.replaceChildren();
    showAbout(details.pipeline);
    // The charts follow the runs: drawn again from the report at each reload.
    Promise.all([api(`${base}/report?days=14`), api(`${base}/deployments?limit=500`)]).then(([report, deployed]) => {
      if (!gone && mine === generation) {
        charts.replaceChildren(...reportCharts(report), deploymentsChart(deployed.deployments, report.performance.daily));
      }
    }, (err) => charts.replaceChildren(message(`Could not load the report: ${err.message}`)));
    // Built again only when the pipeline's status changes: a live reload keeps what is typed.
    if (actions.dataset.status !== details.pipeline.status) {
      actions.dataset.status = details.pipeline.status;
      actions.replaceChildren(pipelineActions(base, details.pipeline, actionNotice, reload) || '');
    }
    showStats(stats.stats);
    if (first && details.executions.length > 0) open.add(key(details.executions[0]));
    first = false;
    // Shown jobs stay on screen (an open log with its search too) until they are read again.
    const shownJobs = new Map([...runs.querySelectorAll('tr.jobs')].map((tr) => [tr.dataset.jobsOf, tr.firstChild]));
    runs.replaceChildren();
    if (details.executions.length === 0) {
      runs.append(h('tr', {}, h('td', { colspan: 9, class: 'empty' }, 'No executions recorded yet.')));
    }
    for (const e of details.executions) {
      const jobs = h('tr', { class: 'jobs', hidden: !open.has(key(e)), dataset: { jobsOf: key(e) } },
        shownJobs.get(key(e)) || h('td', { colspan: 9 }, '…'));
      runs.append(execution(e, jobs), jobs);
      if (open.has(key(e))) loadJobs(e, jobs);
    }
  }

  function showAbout(p) {
    header.firstChild.textContent = p.repository;
    const v = p.vps_integration || {};
    const branches = (p.config && p.config.trigger_branches) || [];
    fill(about,
      fact('Workflow', p.workflow_file), fact('Status', badge(p.status)), fact('Pipeline id', h('code', {}, p.pipeline_id)),
      fact('Trigger branches', branches.length ? branches.join(', ') : 'all'),
      fact('Linked domain', v.linked_domain || '—'), fact('Linked app', v.linked_app || '—'),
      fact('Created', when(p.created_at)));
  }

  // Live stats events carry no alerts: the last read ones are kept.
  let alerts = [];

  function showStats(s) {
    if (s.alerts) alerts = s.alerts;
    const m = s.metrics_24h;
    cards.replaceChildren(
      card('Health', badge(String(s.health_score), healthKind(s.health_score)), 'health'),
      card('Success rate (24 h)', m.run_count ? `${m.success_rate.toFixed(1)}% of ${m.run_count}` : '—', 'success-rate'),
      card('Avg duration (24 h)', m.run_count ? duration(m.avg_duration_seconds) : '—', 'avg-duration'),
      card('Active runs', String(s.active_runs), 'active-runs'),
      card('Queued', String(s.queue_length), 'queue-length'),
      card('Current stage', s.current_stage || '—', 'current-stage'),
      card('Progress', `${s.progress_percentage}%`, 'progress'),
      card('Last delivery', when(s.last_delivery_at), 'last-delivery'),
      card('Alerts', alerts.length ? alerts.map((a) => `${a.state}: ${a.summary}`).join('; ') : 'none', 'alerts'));
  }

  function execution(e, jobsRow) {
    const status = e.status === 'completed' && e.conclusion ? e.conclusion : e.status;
    const toggle = h('button', { type: 'button', class: 'link', 'aria-expanded': String(open.has(key(e))), onclick: () => {
      const k = key(e);
      if (open.has(k)) open.delete(k);
      else open.add(k);
      jobsRow.hidden = !open.has(k);
      toggle.setAttribute('aria-expanded', String(open.has(k)));
      if (open.has(k)) loadJobs(e, jobsRow);
    } }, 'Jobs');
    const run = `#${e.run_number ?? e.run_id}${e.run_attempt > 1 ? ` (attempt ${e.run_attempt})` : ''}`;
    return h('tr', { dataset: { runId: e.run_id, runAttempt: e.run_attempt } },
      h('td', {}, externalLink(e.html_url, run), e.workflow_name ? h('div', { class: 'muted small' }, e.workflow_name) : null),
      h('td', { dataset: { field: 'status' } }, badge(status), e.rolled_back ? [' ', badge('rolled back', 'warn')] : null,
        e.failure ? h('div', { class: 'failure small', dataset: { field: 'failure' } },
          `${e.failure.job_name}${e.failure.failed_step ? ` › ${e.failure.failed_step}` : ''}`,
          e.failure.error_message ? h('div', {}, e.failure.error_message.split('\n')[0]) : null) : null),
      h('td', {}, e.branch || '—'),
      h('td', {}, h('code', {}, shortSha(e.head_sha))),
      h('td', {}, e.event || '—'),
      h('td', {}, e.actor || '—'),
      h('td', {}, when(e.started_at)),
      h('td', {}, duration(e.duration_seconds)),
      h('td', {}, toggle, ' ', runActions(base, e, actionNotice, reload)));
  }

  async function loadJobs(e, jobsRow) {
    const cellEl = jobsRow.firstChild;
    let data;
    try {
      data = await api(`${base}/executions/${path(e.run_id, e.run_attempt)}/jobs`);
    } catch (err) {
      cellEl.replaceChildren(message(`Could not load the jobs: ${err.message}`));
      return;
    }
    if (data.jobs.length === 0) {
      cellEl.replaceChildren(h('span', { class: 'muted' }, 'No job reported yet.'));
      return;
    }
    const logUrl = (j) => `${base}/executions/${path(e.run_id, e.run_attempt)}/jobs/${path(j.job_id)}/logs`;
    const rows = [];
    for (const j of data.jobs) {
      const logRow = h('tr', { class: 'log-row', hidden: !openLogs.has(j.job_id) }, h('td', { colspan: 7 }));
      const showLog = () => {
        logRow.hidden = false;
        if (!viewers.has(j.job_id)) viewers.set(j.job_id, logViewer(logUrl(j), j));
        logRow.firstChild.replaceChildren(viewers.get(j.job_id));
      };
      const logButton = j.log_state === 'stored'
        ? h('button', { type: 'button', class: 'link show-log', onclick: () => {
          if (openLogs.has(j.job_id)) {
            openLogs.delete(j.job_id);
            viewers.delete(j.job_id);
            logRow.hidden = true;
          } else {
            openLogs.add(j.job_id);
            showLog();
          }
        } }, 'Log')
        : h('span', { class: 'muted small' }, j.status !== 'completed' ? '' : (j.log_state || 'log not fetched').replaceAll('_', ' '));
      const failure = j.failed_step || j.error_message
        ? h('div', { class: 'failure' }, j.failed_step ? h('strong', {}, j.failed_step) : null,
          j.error_message ? h('div', { class: 'small' }, j.error_message) : null)
        : '—';
      rows.push(h('tr', { dataset: { jobId: j.job_id } },
        h('td', {}, externalLink(j.html_url, j.name)),
        h('td', {}, badge(j.status === 'completed' && j.conclusion ? j.conclusion : j.status)),
        h('td', { dataset: { field: 'failure' } }, failure),
        h('td', {}, j.runner_name || '—'),
        h('td', {}, when(j.started_at)),
        h('td', {}, j.started_at && j.completed_at ? duration((Date.parse(j.completed_at) - Date.parse(j.started_at)) / 1000) : '—'),
        h('td', {}, logButton)), logRow);
      if (openLogs.has(j.job_id)) showLog();
    }
    cellEl.replaceChildren(h('table', { class: 'grid inner' },
      h('thead', {}, h('tr', {}, ['Job', 'Status', 'Why it failed', 'Runner', 'Started', 'Duration', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows)));
  }

  return {
    refresh,
    onEvent({ type, data }) {
      if (type === 'resync') reload();
      if (type === 'alert' && data && data.alert && data.alert.pipeline_id === id) reload();
      if (!data || data.pipeline_id !== id) return;
      if (type === 'stats') showStats(data);
      else if (type === 'execution' || type === 'job' || type === 'log') reload();
    },
    dispose() {
      gone = true;
      reload.cancel();
    },
  };
}

const key = (e) => `${e.run_id}/${e.run_attempt}`;

function fact(label, value) {
  return [h('dt', {}, label), h('dd', {}, value)];
}

function card(label, value, field) {
  return h('div', { class: 'card', dataset: { field } }, h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value));
}
