// What a token allowed to write can do from the dashboard: trigger, roll back and tear down a
// pipeline, cancel and re-run its runs, provision a new one. Each control calls the API and says
// what happened (the outbox job it queued, or the server's error); nothing is shown to a read-only
// token (see canWrite()).

import { api, canWrite } from './api.js';
import { h, message } from './dom.js';

// `notice` shows each action's outcome; the queued job's id is in data-job-id.
function outcome(notice, answer, fallback) {
  const text = answer.message || fallback;
  const shown = message(answer.job_id ? `${text} (job ${answer.job_id})` : text, 'info');
  if (answer.job_id) shown.dataset.jobId = String(answer.job_id);
  notice.replaceChildren(shown);
}

async function act(notice, button, call, fallback, after) {
  button.disabled = true;
  try {
    const answer = await call();
    outcome(notice, answer, fallback);
    if (after) after(answer);
  } catch (err) {
    notice.replaceChildren(message(`${fallback} failed: ${err.message}`));
  } finally {
    button.disabled = false;
  }
}

// "name=value" lines as workflow inputs.
function inputs(textValue) {
  const out = {};
  for (const line of textValue.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

// The pipeline's controls: trigger (ref and inputs), roll back (with a reason), tear down (asked
// twice).
export function pipelineActions(base, pipeline, notice, changed) {
  if (!canWrite() || pipeline.status !== 'active') return null;
  const ref = h('input', { id: 'trigger-ref', placeholder: 'ref (default: first trigger branch)', 'aria-label': 'Ref' });
  const vars = h('textarea', { id: 'trigger-inputs', rows: 2, placeholder: 'inputs, one name=value a line', 'aria-label': 'Inputs' });
  const trigger = h('button', { type: 'submit', id: 'trigger' }, 'Trigger');
  const reason = h('input', { id: 'rollback-reason', placeholder: 'reason', 'aria-label': 'Rollback reason' });
  const rollback = h('button', { type: 'submit', id: 'rollback' }, 'Roll back');
  const teardown = h('button', { type: 'button', id: 'teardown', class: 'danger' }, 'Tear down…');
  const confirmBox = h('span', { hidden: true },
    h('span', {}, `Tear down ${pipeline.repository}? Its runs stop being followed; the repository is kept. `),
    h('button', { type: 'button', id: 'teardown-confirm', class: 'danger', onclick: (event) => act(notice, event.target,
      () => api(base, { method: 'DELETE' }), 'Tear down', changed) }, 'Yes, tear down'),
    h('button', { type: 'button', onclick: () => { confirmBox.hidden = true; } }, 'Keep it'));
  teardown.addEventListener('click', () => { confirmBox.hidden = false; });
  return h('div', { class: 'actions', id: 'pipeline-actions' },
    h('form', { onsubmit: (event) => {
      event.preventDefault();
      const body = { inputs: inputs(vars.value) };
      if (ref.value.trim()) body.ref = ref.value.trim();
      act(notice, trigger, () => api(`${base}/trigger`, { method: 'POST', body }), 'Trigger', changed);
    } }, ref, vars, trigger),
    h('form', { onsubmit: (event) => {
      event.preventDefault();
      const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
      act(notice, rollback, () => api(`${base}/rollback`, { method: 'POST', body }), 'Rollback', changed);
    } }, reason, rollback),
    h('div', {}, teardown, ' ', confirmBox));
}

const FAILED = new Set(['failure', 'timed_out', 'cancelled', 'startup_failure']);

// A run's controls: cancel it while it runs, re-run it (or its failed jobs) once completed.
export function runActions(base, e, notice, changed) {
  if (!canWrite()) return null;
  const url = (action) => `${base}/executions/${e.run_id}/${e.run_attempt}/${action}`;
  const button = (action, label) => h('button', { type: 'button', class: 'small', dataset: { action }, onclick: (event) =>
    act(notice, event.target, () => api(url(action), { method: 'POST', body: {} }), label, changed) }, label);
  if (e.status !== 'completed') return h('span', { class: 'run-actions' }, button('cancel', 'Cancel'));
  return h('span', { class: 'run-actions' }, button('rerun', 'Re-run'),
    FAILED.has(e.conclusion) ? [' ', button('rerun-failed-jobs', 'Re-run failed jobs')] : null);
}

// Provision a pipeline from a form; `done` gets the new pipeline's id.
export function provisionForm(notice, done) {
  if (!canWrite()) return null;
  const repo = h('input', { id: 'provision-repo', placeholder: 'owner/name', required: true, 'aria-label': 'Repository' });
  const workflow = h('input', { id: 'provision-workflow', placeholder: '.github/workflows/deploy.yml', required: true, 'aria-label': 'Workflow file' });
  const branches = h('input', { id: 'provision-branches', placeholder: 'trigger branches, comma-separated', 'aria-label': 'Trigger branches' });
  const submit = h('button', { type: 'submit', id: 'provision' }, 'Provision');
  return h('form', { class: 'actions', id: 'provision-form', onsubmit: (event) => {
    event.preventDefault();
    const list = branches.value.split(',').map((b) => b.trim()).filter(Boolean);
    const body = { repo: repo.value.trim(), workflow_file: workflow.value.trim(), config: list.length ? { trigger_branches: list } : {} };
    act(notice, submit, () => api('/api/pipelines/provision', { method: 'POST', body }), 'Provision',
      (answer) => done(answer.pipeline_id));
  } }, repo, workflow, branches, submit);
}
