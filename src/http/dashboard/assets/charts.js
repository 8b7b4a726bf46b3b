// Charts the page draws itself from a pipeline's report (inline SVG, no library, no CDN): per
// day, the success rate, the p50 duration and the p95 queue time; the slowest jobs; and its
// deployments per environment on a timeline. Built with
// DOM calls only (text nodes, never markup from the API).

import { duration, h, shortSha } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const WIDTH = 420;
const HEIGHT = 120;
const PAD = 22;

// Bars per day of `daily` (the report's `performance.daily`): `value(day)` (null: no bar), shown
// with `format` in each bar's tooltip and on the largest.
function dayChart(name, title, daily, value, format, max) {
  const values = daily.map(value);
  const top = max ?? Math.max(1, ...values.filter((v) => v !== null));
  const step = (WIDTH - PAD) / Math.max(1, daily.length);
  const bars = daily.map((d, i) => {
    const v = values[i];
    if (v === null) return null;
    const height = Math.max(1, (v / top) * (HEIGHT - 2 * PAD));
    return s('rect', {
      x: PAD + i * step + 1, y: HEIGHT - PAD - height, width: Math.max(1, step - 2), height,
      class: 'bar', 'data-date': d.date, 'data-value': v,
    }, s('title', {}, `${d.date}: ${format(v)}`));
  });
  const first = daily[0] ? daily[0].date.slice(5) : '';
  const last = daily.length ? daily[daily.length - 1].date.slice(5) : '';
  return h('figure', { class: 'chart', dataset: { chart: name } },
    h('figcaption', {}, title),
    s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title, class: 'chart-svg' },
      s('line', { x1: PAD, y1: HEIGHT - PAD, x2: WIDTH, y2: HEIGHT - PAD, class: 'axis' }),
      s('text', { x: 2, y: PAD - 6, class: 'label' }, format(top)),
      s('text', { x: PAD, y: HEIGHT - 6, class: 'label' }, first),
      s('text', { x: WIDTH - 2, y: HEIGHT - 6, class: 'label', 'text-anchor': 'end' }, last),
      bars));
}

// Horizontal bars: the slowest jobs by p50, with their p95.
function jobsChart(jobs) {
  const top = Math.max(1, ...jobs.map((j) => j.p95_seconds));
  const row = 18;
  const height = Math.max(row, jobs.length * row) + 4;
  const rows = jobs.map((j, i) => s('g', { 'data-job': j.name },
    s('text', { x: 0, y: i * row + 13, class: 'label' }, j.name),
    s('rect', { x: 150, y: i * row + 3, width: Math.max(1, (j.p95_seconds / top) * (WIDTH - 230)), height: 12, class: 'bar faint' }),
    s('rect', { x: 150, y: i * row + 3, width: Math.max(1, (j.p50_seconds / top) * (WIDTH - 230)), height: 12, class: 'bar' },
      s('title', {}, `${j.name}: p50 ${duration(j.p50_seconds)}, p95 ${duration(j.p95_seconds)}`)),
    s('text', { x: WIDTH, y: i * row + 13, class: 'label', 'text-anchor': 'end' }, duration(j.p50_seconds))));
  return h('figure', { class: 'chart', dataset: { chart: 'slowest-jobs' } },
    h('figcaption', {}, 'Slowest jobs (p50, p95 lighter)'),
    jobs.length
      ? s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-label': 'Slowest jobs', class: 'chart-svg' }, rows)
      : h('p', { class: 'muted' }, 'No job recorded.'));
}

// Every chart of a report.
export function reportCharts(report) {
  const daily = report.performance.daily;
  const flaky = report.quality.flaky_jobs;
  return [
    dayChart('success-rate', 'Success rate per day', daily, (d) => d.success_rate, (v) => `${v.toFixed(1)}%`, 100),
    dayChart('duration', 'Duration per day (p50)', daily, (d) => d.p50_duration_seconds, duration),
    dayChart('queue', 'Queue time per day (p95)', daily, (d) => d.p95_queue_seconds, duration),
    jobsChart(report.performance.slowest_jobs),
    h('figure', { class: 'chart', dataset: { chart: 'flaky-jobs' } }, h('figcaption', {}, 'Flaky jobs'),
      flaky.length
        ? h('ul', {}, flaky.map((f) => h('li', {}, `${f.name}: ${f.flaky_commits} commit(s), ${f.minutes_lost} min lost`)))
        : h('p', { class: 'muted' }, 'None.')),
  ];
}

// Each environment's deployments (from the deployments endpoint) on a timeline over the report's
// days: a mark per deployment where it was made, coloured by its latest state, ringed when a
// later deployment rolled it back.
export function deploymentsChart(deployments, daily) {
  const day = 864e5;
  const from = daily.length ? Date.parse(`${daily[0].date}T00:00:00Z`) : Date.now() - 14 * day;
  const to = daily.length ? Date.parse(`${daily[daily.length - 1].date}T00:00:00Z`) + day : Date.now();
  const shown = deployments.filter((d) => {
    const at = Date.parse(d.created_at);
    return at >= from && at < to;
  });
  const environments = [...new Set(shown.map((d) => d.environment))].sort();
  const left = 110;
  const row = 22;
  const x = (at) => left + ((at - from) / (to - from)) * (WIDTH - left - 6);
  const rows = environments.map((env, i) => s('g', { 'data-environment': env },
    s('text', { x: 0, y: i * row + 15, class: 'label' }, env),
    s('line', { x1: left, y1: i * row + 11, x2: WIDTH, y2: i * row + 11, class: 'axis' }),
    shown.filter((d) => d.environment === env).map((d) => {
      const state = d.state || 'pending';
      const back = d.rolled_back_by ? `, rolled back by deployment ${d.rolled_back_by}` : '';
      return s('circle', {
        cx: x(Date.parse(d.created_at)), cy: i * row + 11, r: 5,
        class: `deployment ${state}${d.rolled_back_by ? ' rolled-back' : ''}`,
        'data-deployment': d.id, 'data-state': state,
      }, s('title', {}, `${env}: ${shortSha(d.sha)} ${state} (${d.created_at}${back})`));
    })));
  const height = environments.length * row + 4;
  return h('figure', { class: 'chart', dataset: { chart: 'deployments' } },
    h('figcaption', {}, 'Deployments per environment'),
    environments.length
      ? s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-label': 'Deployments per environment', class: 'chart-svg' }, rows)
      : h('p', { class: 'muted' }, 'No deployment in these days.'));
}

// A pipeline's runs per day (its report's `performance.daily`) as a line, for the overview.
export function sparkline(daily) {
  const values = daily.map((d) => d.runs);
  const top = Math.max(1, ...values);
  const width = 84;
  const height = 20;
  const step = width / Math.max(1, values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / top) * (height - 2)).toFixed(1)}`);
  return s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', class: 'sparkline',
    'aria-label': 'Runs per day, last 14 days' },
  s('title', {}, `Runs per day, last 14 days: ${values.join(', ')}`),
  s('polyline', { points: points.join(' '), class: 'spark' }));
}
