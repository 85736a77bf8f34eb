// fruxon's settings and monitoring page: plain JavaScript, no framework, no build step.
//
// Safety rules kept throughout this file:
// - Data from the server or the user is only ever written with textContent, append(string)
//   or setAttribute, never parsed as markup (no innerHTML anywhere).
// - The API key is read from its input once, sent to POST /v1/session, and cleared; the
//   session lives in an HttpOnly cookie and the CSRF token only in this script's memory.
'use strict';

(() => {
  const SLUG_RE = /^[a-z][a-z0-9_]+$/;
  const SLUG_MAX = 64;
  const EXEC_PAGE_SIZE = 25;
  const NOTIF_PAGE_SIZE = 20;
  const DEFAULT_THRESHOLDS = [50, 80, 100];
  const ENV_PAGE_SIZE = 1000;
  // A chart with more bars than this is unreadable; the table below it lists every row.
  const CHART_MAX_BARS = 20;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const state = {
    tenant: null,
    csrf: null,
    envs: [],
    count: 0,
    cap: 0,
    sort: { key: 'slug', dir: 1 },
    agents: [],
    exec: { key: '', query: {}, tokens: [''], page: 0, next: null },
    summary: null,
    pendingDelete: null,
    // Budget statuses by slug: { env: the environment-wide one or null, agents: [...] }; null
    // when they could not be loaded (budgetError says why).
    budgets: new Map(),
    budgetError: '',
    budgetEnv: null,
    settings: null,
    notif: { tokens: [''], page: 0, next: null },
    loadSeq: { envs: 0, exec: 0, cost: 0, notif: 0, settings: 0 },
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------------
  // DOM helpers

  /** Creates an element; string children become text nodes, so they can never be markup. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    setProps(node, props);
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  /** The SVG twin of el(). */
  function svg(tag, props, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setProps(node, props);
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function setProps(node, props) {
    if (!props) return;
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.setAttribute('class', value);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
  }

  function showAlert(node, message) {
    node.textContent = message;
    node.hidden = !message;
  }

  function setStatus(message) {
    $('env-status').textContent = message;
  }

  // ---------------------------------------------------------------------------------------
  // Formatting

  const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'always' });
  const UNITS = [
    ['year', 365 * 86400],
    ['month', 30 * 86400],
    ['week', 7 * 86400],
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];

  /** "3 minutes ago" for an RFC 3339 time. */
  function relative(iso) {
    const seconds = (Date.parse(iso) - Date.now()) / 1000;
    if (Number.isNaN(seconds)) return iso;
    if (Math.abs(seconds) < 45) return 'just now';
    for (const [unit, size] of UNITS) {
      if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
    }
    return rtf.format(Math.round(seconds / 60), 'minute');
  }

  /** A relative time whose exact RFC 3339 value shows on hover; "never" when absent. */
  function timeNode(iso, never = 'never') {
    if (!iso) return el('span', { class: 'muted' }, never);
    return el('time', { datetime: iso, title: iso, dataset: { time: iso } }, relative(iso));
  }

  function refreshTimes() {
    for (const node of document.querySelectorAll('time[data-time]')) {
      node.textContent = relative(node.dataset.time);
    }
  }

  const intFormat = new Intl.NumberFormat('en');

  function formatInt(n) {
    return intFormat.format(Number(n) || 0);
  }

  /** Dollars with every significant digit the API keeps (at most 6 decimals), at least 2. */
  function formatUsd(value) {
    const n = Number(value) || 0;
    let text = n.toFixed(6).replace(/0+$/, '');
    const decimals = text.length - text.indexOf('.') - 1;
    if (decimals < 2) text = n.toFixed(2);
    return '$' + text;
  }

  function formatDuration(ms) {
    const n = Number(ms) || 0;
    if (n < 1000) return n + ' ms';
    return (n / 1000).toFixed(n < 10000 ? 2 : 1) + ' s';
  }

  /** A short one-line preview of any JSON value. */
  function preview(value, max) {
    let text = typeof value === 'string' ? value : JSON.stringify(value);
    if (text === undefined) text = '';
    return text.length > max ? text.slice(0, max - 1) + '…' : text;
  }

  function untagged() {
    return el('span', { class: 'untagged' }, '(untagged)');
  }

  // ---------------------------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(message, status, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  /** One JSON request. Errors carry the server's AIP-193 message, unchanged. */
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && state.csrf) headers['X-CSRF-Token'] = state.csrf;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError('The fruxon server could not be reached: ' + e.message, 0, null);
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (!response.ok) {
      const message =
        data && data.error && typeof data.error.message === 'string'
          ? data.error.message
          : `The server answered ${response.status} ${response.statusText}.`;
      throw new ApiError(message, response.status, data);
    }
    return data;
  }

  function tenantPath(rest) {
    return '/v1/tenants/' + encodeURIComponent(state.tenant) + rest;
  }

  /** Shows an error where it happened, or the sign-in screen when the session is gone. */
  function report(error, alertNode) {
    if (error instanceof ApiError && error.status === 401 && state.tenant) {
      endSession();
      showSignIn(error.message, '');
      return;
    }
    showAlert(alertNode, error.message);
  }

  /** Follows nextPageToken until the last page; returns every item of `field`. */
  async function listAll(path, field, pageSize) {
    const items = [];
    let token = '';
    let last = null;
    for (let pages = 0; pages < 10000; pages++) {
      const query = new URLSearchParams({ pageSize: String(pageSize) });
      if (token) query.set('pageToken', token);
      last = await api('GET', path + '?' + query);
      items.push(...(last[field] || []));
      token = last.nextPageToken || '';
      if (!token) break;
    }
    return { items, last };
  }

  // ---------------------------------------------------------------------------------------
  // Session

  function startSession(session) {
    state.tenant = session.tenant;
    state.csrf = session.csrfToken;
    $('tenant-name').textContent = session.tenant;
    $('nav').hidden = false;
    $('who').hidden = false;
    $('boot').hidden = true;
    route(false);
  }

  /** Forgets everything of the session, including any data already on screen. */
  function endSession() {
    state.tenant = null;
    state.csrf = null;
    state.envs = [];
    state.agents = [];
    state.summary = null;
    state.exec = { key: '', query: {}, tokens: [''], page: 0, next: null };
    state.budgets = new Map();
    state.budgetError = '';
    state.budgetEnv = null;
    state.settings = null;
    state.notif = { tokens: [''], page: 0, next: null };
    $('nav').hidden = true;
    $('who').hidden = true;
    $('tenant-name').textContent = '';
    for (const id of ['env-body', 'exec-body', 'cost-body', 'cost-foot', 'cost-chart',
      'diag-panel', 'env-options', 'budget-settings', 'notif-body', 'budget-agents']) {
      $(id).replaceChildren();
    }
    for (const id of ['env-alert', 'create-alert', 'exec-alert', 'cost-alert',
      'settings-alert', 'notif-alert', 'budget-alert']) {
      showAlert($(id), '');
    }
    $('notif-table').hidden = true;
    $('notif-empty').hidden = true;
    setStatus('');
    $('diag-panel').hidden = true;
    $('diag-toggle').setAttribute('aria-expanded', 'false');
    for (const id of ['delete-dialog', 'budget-dialog']) {
      if ($(id).open) $(id).close();
    }
  }

  function showSignIn(error, note) {
    showView('signin');
    $('boot').hidden = true;
    showAlert($('signin-alert'), error);
    $('signin-note').textContent = note;
    $('api-key').focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const input = $('api-key');
    const apiKey = input.value.trim();
    // The key must not linger anywhere a script could read it later.
    input.value = '';
    showAlert($('signin-alert'), '');
    $('signin-note').textContent = '';
    if (!apiKey) {
      showAlert($('signin-alert'), 'Paste an admin API key first.');
      input.focus();
      return;
    }
    try {
      const session = await api('POST', '/v1/session', { apiKey });
      startSession(session);
    } catch (e) {
      showAlert($('signin-alert'), e.message);
      input.focus();
    }
  }

  async function signOut() {
    showAlert($('global-alert'), '');
    try {
      await api('DELETE', '/v1/session');
    } catch (e) {
      if (e.status !== 401) {
        showAlert($('global-alert'), 'Sign-out failed: ' + e.message);
        return;
      }
    }
    endSession();
    showSignIn('', 'You are signed out.');
  }

  // ---------------------------------------------------------------------------------------
  // Views and routing

  const VIEWS = {
    signin: { section: 'signin-view', title: 'Sign in · fruxon' },
    environments: { section: 'environments-view', title: 'Environments · fruxon' },
    monitoring: { section: 'monitoring-view', title: 'Monitoring · fruxon' },
  };

  function showView(name) {
    for (const [key, view] of Object.entries(VIEWS)) {
      $(view.section).hidden = key !== name;
    }
    document.title = VIEWS[name].title;
    for (const link of document.querySelectorAll('#nav a')) {
      if (link.dataset.view === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  function parseHash() {
    const raw = location.hash.replace(/^#/, '');
    const at = raw.indexOf('?');
    const path = at < 0 ? raw : raw.slice(0, at);
    const params = new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
    return { path, params };
  }

  function route(moveFocus) {
    if (!state.tenant) return;
    showAlert($('global-alert'), '');
    const { path, params } = parseHash();
    if (path === '/monitoring') {
      showView('monitoring');
      openMonitoring(params);
      if (moveFocus) $('mon-title').focus();
    } else {
      if (path !== '/settings/environments') {
        history.replaceState(null, '', '#/settings/environments');
      }
      showView('environments');
      loadEnvironments();
      if (moveFocus) $('env-title').focus();
    }
  }

  // ---------------------------------------------------------------------------------------
  // Settings → Environments

  const ENV_COLUMNS = [
    { key: 'slug', label: 'Slug', kind: 'text' },
    { key: 'displayName', label: 'Display name', kind: 'text' },
    { key: 'origin', label: 'Origin', kind: 'text' },
    { key: 'executionCount', label: 'Executions', kind: 'number' },
    { key: 'lastUsedAt', label: 'Last used', kind: 'time' },
    // Sorts by how much of its budget an environment has used this period.
    { key: 'budget', label: 'Budget', kind: 'percent', value: budgetPercent },
  ];

  async function loadEnvironments() {
    const seq = ++state.loadSeq.envs;
    $('env-table').setAttribute('aria-busy', 'true');
    try {
      const [{ items, last }, budgets] = await Promise.all([
        listAll(tenantPath('/environments'), 'environments', ENV_PAGE_SIZE),
        fetchBudgets(),
      ]);
      if (seq !== state.loadSeq.envs || !state.tenant) return;
      state.envs = items;
      // Cleared first: applyBudgets may have a failure of its own to show there.
      showAlert($('env-alert'), '');
      applyBudgets(budgets);
      state.count = last.count;
      state.cap = last.cap;
      renderMeter();
      renderEnvTable();
      fillEnvironmentOptions();
      if (!$('diag-panel').hidden) loadDiagnostics();
      loadSettings();
    } catch (e) {
      if (seq === state.loadSeq.envs) report(e, $('env-alert'));
    } finally {
      // Only the latest load may say it is done; an older, slower one just ends.
      if (seq === state.loadSeq.envs) $('env-table').removeAttribute('aria-busy');
    }
  }

  function renderMeter() {
    const { count, cap } = state;
    const ratio = cap > 0 ? count / cap : 1;
    const level = count >= cap ? 'full' : ratio >= 0.8 ? 'warn' : 'ok';
    const meter = $('cap-meter');
    meter.className = 'meter meter-' + level;
    meter.setAttribute('aria-valuenow', String(count));
    meter.setAttribute('aria-valuemax', String(Math.max(cap, 1)));
    meter.setAttribute('aria-valuetext', `${count} of ${cap} environments`);
    // element.style is CSSOM, which the page's CSP allows (unlike style attributes).
    $('cap-fill').style.width = Math.min(100, Math.round(ratio * 1000) / 10) + '%';
    const percent = cap > 0 ? Math.floor(ratio * 100) : 100;
    $('cap-text').textContent =
      `${formatInt(count)} of ${formatInt(cap)} environments used (${percent}%)`;
    const note = $('cap-note');
    note.className = 'meter-note meter-note-' + level;
    if (level === 'full') {
      note.textContent = 'The cap is reached: executions that name a new slug are refused. ' +
        'Delete environments that are not customers, or ask the operator to raise the cap. ' +
        'Diagnostics shows what is filling the registry.';
    } else if (level === 'warn') {
      note.textContent = 'The registry is at least 80% full. At the cap, executions that name a ' +
        'new slug are refused; Diagnostics shows what is filling it.';
    } else {
      note.textContent = '';
    }
    note.hidden = !note.textContent;
  }

  function compareEnvs(a, b) {
    const { key, dir } = state.sort;
    const column = ENV_COLUMNS.find((c) => c.key === key);
    const value = column.value || ((env) => env[key]);
    const x = value(a);
    const y = value(b);
    // Missing values (no display name, never used) always go last, whatever the direction.
    const xMissing = x === null || x === undefined || x === '';
    const yMissing = y === null || y === undefined || y === '';
    if (xMissing || yMissing) {
      if (xMissing && yMissing) return a.slug < b.slug ? -1 : 1;
      return xMissing ? 1 : -1;
    }
    let order;
    if (column.kind === 'number' || column.kind === 'percent') order = Number(x) - Number(y);
    else if (column.kind === 'time') order = Date.parse(x) - Date.parse(y);
    else order = String(x).localeCompare(String(y), 'en', { sensitivity: 'base' });
    if (order === 0) order = a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0;
    return order * dir;
  }

  function renderEnvHead() {
    const row = $('env-head');
    const cells = ENV_COLUMNS.map((column) => {
      const active = state.sort.key === column.key;
      const th = el('th', {
        scope: 'col',
        class: column.kind === 'number' ? 'num' : null,
        'aria-sort': active ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none',
      });
      const arrow = active ? (state.sort.dir > 0 ? '▲' : '▼') : '↕';
      th.append(el('button', {
        type: 'button',
        class: 'sort' + (active ? ' sort-active' : ''),
        dataset: { sort: column.key },
        onclick: () => sortBy(column),
      }, column.label, el('span', { class: 'sort-arrow', 'aria-hidden': 'true' }, arrow)));
      return th;
    });
    cells.push(el('th', { scope: 'col' }, el('span', { class: 'sr-only' }, 'Actions')));
    row.replaceChildren(...cells);
  }

  function sortBy(column) {
    if (state.sort.key === column.key) {
      state.sort.dir = -state.sort.dir;
    } else {
      // Text reads best A→Z; counts and times most useful largest or newest first.
      state.sort = { key: column.key, dir: column.kind === 'text' ? 1 : -1 };
    }
    renderEnvTable();
    const button = document.querySelector(`#env-head button[data-sort="${column.key}"]`);
    if (button) button.focus();
  }

  function renderEnvTable() {
    renderEnvHead();
    const needle = $('env-filter').value.trim().toLowerCase();
    const shown = state.envs
      .filter((env) => !needle ||
        env.slug.toLowerCase().includes(needle) ||
        (env.displayName || '').toLowerCase().includes(needle))
      .sort(compareEnvs);
    $('env-body').replaceChildren(...shown.map(envRow));

    const empty = $('env-empty');
    if (state.envs.length === 0) {
      empty.textContent =
        'No environments yet: they appear on the first execution that names one';
    } else if (shown.length === 0) {
      empty.textContent = `No environment matches “${$('env-filter').value.trim()}”.`;
    } else {
      empty.textContent = '';
    }
    empty.hidden = !empty.textContent;
    $('env-table').hidden = shown.length === 0;
    $('env-shown').textContent = state.envs.length === 0 ? '' : needle
      ? `Showing ${formatInt(shown.length)} of ${formatInt(state.envs.length)}`
      : `${formatInt(state.envs.length)} environment${state.envs.length === 1 ? '' : 's'}`;
  }

  function envRow(env) {
    const origin = env.origin === 'explicit' ? 'explicit' : 'auto';
    const executions = el('a', {
      href: '#/monitoring?environment=' + encodeURIComponent(env.slug),
      title: 'Show the executions of ' + env.slug,
    }, formatInt(env.executionCount));
    const budget = el('button', {
      type: 'button',
      class: 'link-button',
      'aria-label': 'Budget of environment ' + env.slug,
      dataset: { budget: env.slug },
      onclick: () => openBudget(env),
    }, 'Budget');
    const remove = el('button', {
      type: 'button',
      class: 'link-danger',
      'aria-label': 'Delete environment ' + env.slug,
      onclick: () => confirmDelete(env),
    }, 'Delete');
    const nameCell = el('td', { class: 'name-cell' });
    renderNameCell(nameCell, env, false);
    return el('tr', { dataset: { slug: env.slug } },
      el('th', { scope: 'row', class: 'mono slug-cell' }, env.slug),
      nameCell,
      el('td', null, el('span', { class: 'badge badge-' + origin }, origin)),
      el('td', { class: 'num' }, executions),
      el('td', { class: 'time-cell' }, timeNode(env.lastUsedAt)),
      budgetCell(env),
      el('td', { class: 'actions' }, budget, remove));
  }

  function renderNameCell(cell, env, focus) {
    const named = Boolean(env.displayName);
    const button = el('button', {
      type: 'button',
      class: 'name-button' + (named ? '' : ' name-empty'),
      title: 'Rename: click or press Enter',
      onclick: () => startRename(cell, env),
    }, named ? env.displayName : 'Add a display name');
    cell.replaceChildren(button);
    if (focus) button.focus();
  }

  function startRename(cell, env) {
    const before = env.displayName || '';
    const input = el('input', {
      type: 'text',
      class: 'name-input',
      'aria-label': 'Display name of ' + env.slug + '; Enter saves, Escape cancels',
      autocomplete: 'off',
    });
    input.value = before;
    let finished = false;

    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const next = input.value.trim();
      if (!save || next === before) {
        renderNameCell(cell, env, true);
        return;
      }
      input.disabled = true;
      showAlert($('env-alert'), '');
      try {
        const path = tenantPath('/environments/' + encodeURIComponent(env.slug));
        const updated = await api('PATCH', path, { displayName: next === '' ? null : next });
        Object.assign(env, updated);
        setStatus(next === ''
          ? `Cleared the display name of ${env.slug}.`
          : `Renamed ${env.slug} to “${updated.displayName}”.`);
      } catch (e) {
        report(e, $('env-alert'));
      }
      if (state.tenant) renderNameCell(cell, env, true);
    };

    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        finish(true);
      } else if (event.key === 'Escape') {
        event.preventDefault();
        finish(false);
      }
    });
    input.addEventListener('blur', () => finish(true));
    cell.replaceChildren(input);
    input.focus();
    input.select();
  }

  /** What is wrong with a slug as typed, or null when it follows the rules. */
  function slugProblem(slug) {
    if (slug.length > SLUG_MAX) {
      return `is ${slug.length} characters long; at most ${SLUG_MAX} are allowed`;
    }
    const bad = slug.match(/[^a-z0-9_]/);
    if (bad) {
      const suggestion = slug.toLowerCase().replace(/[^a-z0-9_]+/g, '_')
        .replace(/^[^a-z]+/, '').replace(/_+$/, '');
      const what = bad[0] === ' ' ? 'spaces' : /[A-Z]/.test(bad[0])
        ? 'capital letters' : `'${bad[0]}'`;
      const hint = SLUG_RE.test(suggestion) && suggestion.length <= SLUG_MAX
        ? `; try '${suggestion}'` : '';
      return `may not contain ${what}${hint}`;
    }
    if (!/^[a-z]/.test(slug)) return 'must start with a lowercase letter';
    if (slug.length < 2) return 'needs at least 2 characters';
    return null;
  }

  function checkSlugInput() {
    const input = $('new-slug');
    const hint = $('slug-hint');
    const slug = input.value.trim();
    if (!slug) {
      hint.className = 'hint';
      hint.textContent = 'Lowercase letters, digits and _, starting with a letter; ' +
        `2 to ${SLUG_MAX} characters. It cannot change later.`;
      input.removeAttribute('aria-invalid');
      return;
    }
    const problem = slugProblem(slug);
    if (problem) {
      hint.className = 'hint hint-bad';
      hint.textContent = '✗ The slug ' + problem + '.';
      input.setAttribute('aria-invalid', 'true');
    } else {
      hint.className = 'hint hint-ok';
      hint.textContent = '✓ A valid slug.';
      input.removeAttribute('aria-invalid');
    }
  }

  async function createEnvironment(event) {
    event.preventDefault();
    showAlert($('create-alert'), '');
    const slug = $('new-slug').value.trim();
    const displayName = $('new-name').value.trim();
    if (!slug) {
      showAlert($('create-alert'), 'Type a slug first.');
      $('new-slug').focus();
      return;
    }
    // The page's check is a hint only: the request goes out, and the server's verdict (and
    // message) is what counts.
    const body = { slug };
    if (displayName) body.displayName = displayName;
    const submit = $('create-submit');
    submit.disabled = true;
    try {
      const created = await api('POST', tenantPath('/environments'), body);
      $('create-form').reset();
      checkSlugInput();
      setStatus(`Created environment ${created.slug}.`);
      await loadEnvironments();
    } catch (e) {
      report(e, $('create-alert'));
    } finally {
      submit.disabled = false;
    }
  }

  function confirmDelete(env) {
    state.pendingDelete = env;
    const n = Number(env.executionCount) || 0;
    let runs;
    if (n === 0) runs = 'It has no executions yet; only the registry entry is removed.';
    else if (n === 1) {
      runs = 'Its 1 execution keeps the slug, with its history and costs; only the registry ' +
        'entry is removed.';
    } else {
      runs = `Its ${formatInt(n)} executions keep the slug, with their history and costs; ` +
        'only the registry entry is removed.';
    }
    $('delete-text').textContent = `Delete the environment ${env.slug}? ${runs} ` +
      `An execution that names ${env.slug} again registers it anew.`;
    const dialog = $('delete-dialog');
    if (typeof dialog.showModal === 'function') {
      dialog.showModal();
      $('delete-cancel').focus();
    } else if (window.confirm($('delete-text').textContent)) {
      deleteEnvironment();
    }
  }

  async function deleteEnvironment() {
    const env = state.pendingDelete;
    state.pendingDelete = null;
    const dialog = $('delete-dialog');
    if (dialog.open) dialog.close();
    if (!env) return;
    showAlert($('env-alert'), '');
    try {
      await api('DELETE', tenantPath('/environments/' + encodeURIComponent(env.slug)));
      setStatus(`Deleted environment ${env.slug}; its executions keep the slug.`);
      await loadEnvironments();
      $('env-filter').focus();
    } catch (e) {
      report(e, $('env-alert'));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Budgets

  const PERIOD_NOW = { day: 'today', week: 'this week', month: 'this month' };
  const PERIOD_EACH = { day: 'a day', week: 'a week', month: 'a month' };

  function budgetPath(slug) {
    return tenantPath('/environments/' + encodeURIComponent(slug) + '/budget');
  }

  /** Every budget status of the tenant, or an Error when they could not be loaded. */
  async function fetchBudgets() {
    try {
      const data = await api('GET', tenantPath('/budgets'));
      return data.budgets || [];
    } catch (e) {
      if (e.status === 401) throw e;
      return e;
    }
  }

  function applyBudgets(budgets) {
    if (budgets instanceof Error) {
      state.budgets = null;
      state.budgetError = budgets.message;
      showAlert($('env-alert'), 'Budgets could not be loaded: ' + budgets.message);
      return;
    }
    const bySlug = new Map();
    for (const b of budgets) {
      if (!bySlug.has(b.environmentSlug)) bySlug.set(b.environmentSlug, { env: null, agents: [] });
      const entry = bySlug.get(b.environmentSlug);
      if (b.agent === null || b.agent === undefined) entry.env = b;
      else entry.agents.push(b);
    }
    state.budgets = bySlug;
    state.budgetError = '';
  }

  async function reloadBudgets() {
    applyBudgets(await fetchBudgets());
    renderEnvTable();
  }

  function envBudget(slug) {
    const entry = state.budgets && state.budgets.get(slug);
    return entry ? entry.env : null;
  }

  function budgetPercent(env) {
    const b = envBudget(env.slug);
    return b ? Number(b.percentUsed) || 0 : null;
  }

  function isSet(value) {
    return value !== null && value !== undefined;
  }

  /** A limit in dollars as people write it: $500, $12.50. */
  function formatLimitUsd(value) {
    const n = Number(value) || 0;
    return Number.isInteger(n) ? '$' + intFormat.format(n) : formatUsd(n);
  }

  /** "37%", "<1%" for a little above nothing; never rounds up to 100% before it is reached. */
  function formatPercent(value) {
    const n = Number(value) || 0;
    if (n > 0 && n < 1) return '<1%';
    return formatInt(Math.floor(n)) + '%';
  }

  /** "$12.40 / $500 this month" and "37 / 100 runs": what a budget has used of each limit. */
  function usageLines(b) {
    const lines = [];
    if (isSet(b.limitUsd)) lines.push(`${formatUsd(b.spentUsd)} / ${formatLimitUsd(b.limitUsd)}`);
    if (isSet(b.limitExecutions)) {
      lines.push(`${formatInt(b.executions)} / ${formatInt(b.limitExecutions)} runs`);
    }
    if (lines.length) lines[0] += ' ' + (PERIOD_NOW[b.period] || 'this ' + b.period);
    return lines;
  }

  function budgetMeter(b, label) {
    const percent = Number(b.percentUsed) || 0;
    const level = percent >= 100 ? 'full' : percent >= 80 ? 'warn' : 'ok';
    const fill = el('div', { class: 'meter-fill' });
    // element.style is CSSOM, which the page's CSP allows (unlike style attributes).
    fill.style.width = Math.min(100, percent) + '%';
    return el('div', {
      class: 'meter meter-small meter-' + level,
      role: 'meter',
      'aria-label': label,
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': Math.min(100, percent),
      'aria-valuetext': formatPercent(percent) + ' used',
    }, fill);
  }

  function enforceBadge(b) {
    return b.enforce
      ? el('span', {
        class: 'badge badge-enforced',
        title: 'At the limit, new executions are refused until the period resets',
      }, 'enforced')
      : el('span', {
        class: 'badge badge-alert-only',
        title: 'Alerts only: executions continue past the limit',
      }, 'alert only');
  }

  function budgetCell(env) {
    const cell = el('td', { class: 'budget-cell' });
    if (!state.budgets) {
      cell.append(el('span', { class: 'muted', title: state.budgetError }, 'unavailable'));
      return cell;
    }
    const entry = state.budgets.get(env.slug);
    const b = entry ? entry.env : null;
    if (!b) {
      cell.append(el('span', { class: 'muted', title: 'No budget' }, '—'));
    } else {
      cell.title = `This ${b.period} began ${b.periodStart} and resets ${b.resetsAt}`;
      cell.append(...usageLines(b).map((line) => el('div', { class: 'budget-line' }, line)),
        el('div', { class: 'budget-meta' },
          budgetMeter(b, 'Budget used by ' + env.slug),
          el('span', { class: 'budget-percent' }, formatPercent(b.percentUsed)),
          enforceBadge(b)));
    }
    const agents = entry ? entry.agents.length : 0;
    if (agents) {
      cell.append(el('div', { class: 'budget-extra' },
        `+ ${agents} agent budget${agents === 1 ? '' : 's'}`));
    }
    return cell;
  }

  /** "$500 or 1,000 executions a month; alerts at 50, 80, 100%; enforced". */
  function describeBudget(b) {
    const limits = [];
    if (isSet(b.limitUsd)) limits.push(formatLimitUsd(b.limitUsd));
    if (isSet(b.limitExecutions)) limits.push(`${formatInt(b.limitExecutions)} executions`);
    const thresholds = b.thresholds || DEFAULT_THRESHOLDS;
    return [
      `${limits.join(' or ') || 'no limit'} ${PERIOD_EACH[b.period] || 'a ' + b.period}`,
      thresholds.length ? `alerts at ${thresholds.join(', ')}%` : 'no alerts',
      b.enforce ? 'enforced' : 'alert only',
    ].join('; ');
  }

  async function openBudget(env) {
    showAlert($('env-alert'), '');
    let budget = null;
    let status = null;
    try {
      [budget, status] = await Promise.all([
        api('GET', budgetPath(env.slug)),
        api('GET', budgetPath(env.slug) + ':status'),
      ]);
    } catch (e) {
      if (e.status !== 404) {
        report(e, $('env-alert'));
        return;
      }
      budget = null;
      status = null;
    }
    if (!state.tenant) return;
    state.budgetEnv = env;
    $('budget-title').textContent = (budget ? 'Budget of ' : 'Set a budget for ') + env.slug;
    const name = $('budget-name');
    name.textContent = env.displayName || '';
    name.hidden = !env.displayName;
    renderBudgetCurrent(status);

    $('budget-usd').value = budget && isSet(budget.limitUsd) ? String(budget.limitUsd) : '';
    $('budget-runs').value =
      budget && isSet(budget.limitExecutions) ? String(budget.limitExecutions) : '';
    $('budget-period').value = budget ? budget.period : 'month';
    $('budget-thresholds').value =
      (budget ? budget.thresholds || [] : DEFAULT_THRESHOLDS).join(', ');
    $('budget-enforce').checked = Boolean(budget && budget.enforce);
    $('budget-remove').hidden = !budget;
    $('budget-save').disabled = false;
    $('budget-remove').disabled = false;
    showAlert($('budget-alert'), '');
    renderAgentBudgets(env.slug);

    const dialog = $('budget-dialog');
    if (typeof dialog.showModal === 'function') dialog.showModal();
    else dialog.setAttribute('open', '');
    $('budget-usd').focus();
  }

  function renderBudgetCurrent(status) {
    const zone = state.settings && state.settings.timeZone;
    const parts = [];
    if (status) {
      const used = [];
      if (isSet(status.limitUsd)) {
        used.push(`${formatUsd(status.spentUsd)} of ${formatLimitUsd(status.limitUsd)}`);
      }
      if (isSet(status.limitExecutions)) {
        used.push(`${formatInt(status.executions)} of ${formatInt(status.limitExecutions)} ` +
          'executions');
      }
      parts.push(`Used ${PERIOD_NOW[status.period] || 'this period'}: ${used.join(' and ')} ` +
        `(${formatPercent(status.percentUsed)}). It resets `, timeNode(status.resetsAt), '.');
    } else {
      parts.push('No budget yet.');
    }
    if (zone) parts.push(` Periods follow the organization's time zone, ${zone}.`);
    $('budget-current').replaceChildren(...parts);
  }

  /** The budgets of single agents within the environment, which the API sets (?agent=). */
  function renderAgentBudgets(slug) {
    const box = $('budget-agents');
    const entry = state.budgets && state.budgets.get(slug);
    const agents = entry ? entry.agents : [];
    box.hidden = agents.length === 0;
    if (!agents.length) {
      box.replaceChildren();
      return;
    }
    box.replaceChildren(
      el('h3', null, 'Budgets of single agents here'),
      el('ul', { class: 'budget-agent-list' }, ...agents.map((b) => el('li', null,
        el('code', null, b.agent), ' ', usageLines(b).join(', '), ' ', enforceBadge(b)))),
      el('p', { class: 'hint' }, 'These are set through the API, with ?agent= on the ' +
        'budget path; this form sets the budget of the whole environment.'));
  }

  /** The request body the form describes, or a message saying what to correct. */
  function readBudgetForm() {
    const usdInput = $('budget-usd');
    const runsInput = $('budget-runs');
    if (usdInput.validity.badInput) {
      return { problem: 'The limit in USD must be a number, such as 500 or 12.50.', at: usdInput };
    }
    const runsText = runsInput.value.trim();
    if (runsInput.validity.badInput || (runsText && !/^\d+$/.test(runsText))) {
      return { problem: 'The limit in executions must be a whole number, such as 100.',
        at: runsInput };
    }
    const thresholds = [];
    for (const part of $('budget-thresholds').value.split(/[\s,;]+/)) {
      if (!part) continue;
      const percent = part.replace(/%$/, '');
      if (!/^\d+$/.test(percent)) {
        return { problem: `“${part}” is not a whole percentage; write them like 50, 80, 100.`,
          at: $('budget-thresholds') };
      }
      thresholds.push(Number(percent));
    }
    const usdText = usdInput.value.trim();
    return {
      body: {
        limitUsd: usdText === '' ? null : Number(usdText),
        limitExecutions: runsText === '' ? null : Number(runsText),
        period: $('budget-period').value,
        thresholds,
        enforce: $('budget-enforce').checked,
      },
    };
  }

  function closeBudget(message) {
    const env = state.budgetEnv;
    state.budgetEnv = null;
    const dialog = $('budget-dialog');
    if (dialog.open) dialog.close();
    if (message) setStatus(message);
    if (!env) return;
    const button = document.querySelector(
      `#env-body button[data-budget="${CSS.escape(env.slug)}"]`);
    if (button) button.focus();
  }

  async function saveBudget(event) {
    event.preventDefault();
    const env = state.budgetEnv;
    if (!env) return;
    const form = readBudgetForm();
    if (form.problem) {
      showAlert($('budget-alert'), form.problem);
      form.at.focus();
      return;
    }
    showAlert($('budget-alert'), '');
    $('budget-save').disabled = true;
    try {
      await api('PUT', budgetPath(env.slug), form.body);
      await reloadBudgets();
      closeBudget(`Saved the budget of ${env.slug}.`);
    } catch (e) {
      budgetFailed(e);
    } finally {
      $('budget-save').disabled = false;
    }
  }

  async function removeBudget() {
    const env = state.budgetEnv;
    if (!env) return;
    showAlert($('budget-alert'), '');
    $('budget-remove').disabled = true;
    try {
      await api('DELETE', budgetPath(env.slug));
      await reloadBudgets();
      closeBudget(`Removed the budget of ${env.slug}.`);
    } catch (e) {
      budgetFailed(e);
    } finally {
      $('budget-remove').disabled = false;
    }
  }

  function budgetFailed(error) {
    if (error.status === 401) {
      closeBudget('');
      report(error, $('env-alert'));
    } else {
      showAlert($('budget-alert'), error.message);
    }
  }

  /** The organization's settings that budgets and alerts follow, read-only. */
  async function loadSettings() {
    const seq = ++state.loadSeq.settings;
    try {
      const settings = await api('GET', tenantPath('/settings'));
      if (seq !== state.loadSeq.settings || !state.tenant) return;
      state.settings = settings;
      showAlert($('settings-alert'), '');
      renderSettings(settings);
    } catch (e) {
      if (seq === state.loadSeq.settings) report(e, $('settings-alert'));
    }
  }

  function renderSettings(s) {
    const none = (text) => el('span', { class: 'muted' }, text);
    const emails = s.adminEmails || [];
    const facts = [
      ['Time zone of budget periods', s.timeZone || 'UTC'],
      ['Default budget of new environments',
        s.defaultBudget ? describeBudget(s.defaultBudget) : none('None')],
      ['Alert e-mails go to', emails.length ? emails.join(', ')
        : none('Nobody: no admin e-mail addresses are set')],
      ['Alert webhook', s.alertWebhookUrl
        ? el('span', null, el('code', null, s.alertWebhookUrl),
          s.webhookSecretSet ? ' (signed)' : ' (no signing secret yet)')
        : none('Not set')],
      ['Environment cap', formatInt(s.environmentCap)],
    ];
    $('budget-settings').replaceChildren(...facts.flatMap(([term, value]) =>
      [el('dt', null, term), el('dd', null, value)]));
  }

  async function toggleDiagnostics() {
    const panel = $('diag-panel');
    const open = panel.hidden;
    panel.hidden = !open;
    $('diag-toggle').setAttribute('aria-expanded', String(open));
    if (open) await loadDiagnostics();
  }

  async function loadDiagnostics() {
    const panel = $('diag-panel');
    panel.setAttribute('aria-busy', 'true');
    try {
      const d = await api('GET', tenantPath('/environments:diagnostics'));
      renderDiagnostics(d);
    } catch (e) {
      panel.replaceChildren(el('p', { class: 'alert', role: 'alert' }, e.message));
      if (e.status === 401) report(e, $('env-alert'));
    } finally {
      panel.removeAttribute('aria-busy');
    }
  }

  function renderDiagnostics(d) {
    const cause = d.likelyCause
      ? el('p', { class: 'diag-cause' }, d.likelyCause)
      : el('p', { class: 'muted' }, 'No clear pattern: the slugs look like customer names.');

    const suspicious = (d.suspiciousSlugs || []).length
      ? el('ul', { class: 'diag-list' }, ...d.suspiciousSlugs.map((s) =>
        el('li', null, el('code', null, s.slug), el('span', { class: 'why' }, s.why))))
      : el('p', { class: 'muted' }, 'None.');

    const recent = (d.recentSlugs || []).length
      ? el('ul', { class: 'diag-list' }, ...d.recentSlugs.map((s) =>
        el('li', null, el('code', null, s.slug), ' ', timeNode(s.createdAt))))
      : el('p', { class: 'muted' }, 'None yet.');

    $('diag-panel').replaceChildren(
      el('h3', null, 'Likely cause'), cause,
      el('p', { class: 'note' },
        `${formatInt(d.count)} of ${formatInt(d.cap)} used; ` +
        `${formatInt(d.createdLast24h)} created in the last 24 hours.`),
      el('div', { class: 'diag-columns' },
        el('div', null, el('h3', null, 'Suspicious slugs'), suspicious),
        el('div', null, el('h3', null, 'Most recent slugs'), recent)));
  }

  function fillEnvironmentOptions() {
    const options = state.envs.map((env) => el('option', { value: env.slug },
      env.displayName || env.slug));
    options.unshift(el('option', { value: 'none' }, 'untagged runs'));
    $('env-options').replaceChildren(...options);
  }

  // ---------------------------------------------------------------------------------------
  // Monitoring

  const EXEC_FILTERS = ['environment', 'agent', 'sessionId', 'status'];
  const FILTER_INPUTS = {
    environment: 'f-environment',
    agent: 'f-agent',
    sessionId: 'f-session',
    status: 'f-status',
  };

  async function openMonitoring(params) {
    const query = {};
    for (const name of EXEC_FILTERS) {
      const value = (params.get(name) || '').trim();
      if (value) query[name] = value;
    }
    const key = JSON.stringify(query);
    if (key !== state.exec.key) {
      state.exec = { key, query, tokens: [''], page: 0, next: null };
    }
    await loadAgents();
    for (const name of EXEC_FILTERS) {
      const input = $(FILTER_INPUTS[name]);
      const value = query[name] || '';
      if (input.tagName === 'SELECT' && value &&
        !Array.from(input.options).some((o) => o.value === value)) {
        // A filter from a link or an old bookmark still shows what is applied.
        input.append(el('option', { value }, value));
      }
      input.value = value;
    }
    if (!state.envs.length) loadEnvironments();
    loadExecutions();
    loadSummary();
    loadNotifications();
  }

  async function loadAgents() {
    try {
      const { items } = await listAll(tenantPath('/agents'), 'agents', 1000);
      state.agents = items;
    } catch (e) {
      report(e, $('exec-alert'));
      return;
    }
    const filter = $('f-agent');
    const chosenFilter = filter.value;
    filter.replaceChildren(el('option', { value: '' }, 'Any agent'),
      ...state.agents.map(agentOption));
    filter.value = chosenFilter;

    const cost = $('cost-agent');
    const chosenCost = cost.value;
    cost.replaceChildren(...state.agents.map(agentOption));
    if (state.agents.some((a) => a.id === chosenCost)) cost.value = chosenCost;
    cost.disabled = state.agents.length === 0;
  }

  function agentOption(agent) {
    const label = agent.displayName && agent.displayName !== agent.id
      ? `${agent.id} — ${agent.displayName}` : agent.id;
    return el('option', { value: agent.id }, label);
  }

  function applyFilters(event) {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of EXEC_FILTERS) {
      const value = $(FILTER_INPUTS[name]).value.trim();
      if (value) params.set(name, value);
    }
    const query = params.toString();
    const hash = '#/monitoring' + (query ? '?' + query : '');
    if (location.hash === hash) loadExecutions();
    else location.hash = hash;
  }

  function clearFilters() {
    $('exec-filters').reset();
    if (location.hash === '#/monitoring') loadExecutions();
    else location.hash = '#/monitoring';
  }

  async function loadExecutions() {
    const seq = ++state.loadSeq.exec;
    const exec = state.exec;
    const query = new URLSearchParams(exec.query);
    query.set('pageSize', String(EXEC_PAGE_SIZE));
    const token = exec.tokens[exec.page];
    if (token) query.set('pageToken', token);
    $('exec-table').setAttribute('aria-busy', 'true');
    $('exec-prev').disabled = true;
    $('exec-next').disabled = true;
    try {
      const page = await api('GET', tenantPath('/executions?' + query));
      if (seq !== state.loadSeq.exec) return;
      showAlert($('exec-alert'), '');
      exec.next = page.nextPageToken || null;
      renderExecutions(page.executions || []);
    } catch (e) {
      if (seq !== state.loadSeq.exec) return;
      exec.next = null;
      $('exec-body').replaceChildren();
      $('exec-table').hidden = true;
      $('exec-empty').hidden = true;
      report(e, $('exec-alert'));
    } finally {
      // A slower, older load must not re-enable paging with its own, stale token.
      if (seq === state.loadSeq.exec) {
        $('exec-table').removeAttribute('aria-busy');
        $('exec-prev').disabled = exec.page === 0;
        $('exec-next').disabled = !exec.next;
        $('exec-page').textContent = `Page ${exec.page + 1}`;
      }
    }
  }

  function renderExecutions(rows) {
    $('exec-body').replaceChildren(...rows.map(executionRow));
    const empty = $('exec-empty');
    const filtered = Object.keys(state.exec.query).length > 0;
    if (rows.length) empty.textContent = '';
    else if (state.exec.page > 0) empty.textContent = 'No more executions.';
    else if (filtered) empty.textContent = 'No executions match these filters.';
    else empty.textContent = 'No executions yet: run an agent and it shows up here.';
    empty.hidden = rows.length > 0;
    $('exec-table').hidden = rows.length === 0;
  }

  function executionRow(x) {
    const failed = x.status !== 'succeeded';
    const outputText = failed && x.error ? x.error : preview(x.output, 2000);
    return el('tr', { dataset: { id: x.executionId } },
      el('td', { class: 'time-cell' }, timeNode(x.startedAt)),
      el('td', null, x.agent, el('span', { class: 'muted' }, ' r' + x.revision)),
      el('td', { class: 'mono env-cell' },
        x.environmentSlug ? x.environmentSlug : untagged()),
      el('td', { class: 'mono' },
        x.sessionId ? x.sessionId : el('span', { class: 'muted' }, '—')),
      el('td', null, el('span', { class: 'badge badge-' + (failed ? 'failed' : 'ok') },
        failed ? 'failed' : 'succeeded')),
      el('td', { class: 'num' }, formatUsd(x.costUsd)),
      el('td', { class: 'num' }, formatDuration(x.durationMs)),
      el('td', { class: 'output-cell' + (failed ? ' output-error' : ''), title: outputText },
        preview(outputText, 60)),
      el('td', { class: 'mono muted id-cell' }, x.executionId));
  }

  function nextPage() {
    if (!state.exec.next) return;
    state.exec.tokens[state.exec.page + 1] = state.exec.next;
    state.exec.page += 1;
    loadExecutions();
  }

  function previousPage() {
    if (state.exec.page === 0) return;
    state.exec.page -= 1;
    loadExecutions();
  }

  async function loadSummary() {
    const seq = ++state.loadSeq.cost;
    const agent = $('cost-agent').value;
    showAlert($('cost-alert'), '');
    if (!agent) {
      state.summary = null;
      renderSummary(null, 'No agents yet: create one through the API to see its costs.');
      return;
    }
    try {
      const path = tenantPath('/agents/' + encodeURIComponent(agent) + '/environments:summary');
      const summary = await api('GET', path);
      if (seq !== state.loadSeq.cost) return;
      state.summary = summary;
      renderSummary(summary, 'No executions of this agent yet.');
    } catch (e) {
      if (seq !== state.loadSeq.cost) return;
      state.summary = null;
      renderSummary(null, '');
      report(e, $('cost-alert'));
    }
  }

  function renderSummary(summary, emptyText) {
    const rows = summary ? summary.environments || [] : [];
    $('cost-body').replaceChildren(...rows.map((r) => el('tr', null,
      el('th', { scope: 'row', class: 'mono' },
        r.environmentSlug === null ? untagged() : r.environmentSlug),
      el('td', { class: 'num' }, formatInt(r.executionCount)),
      el('td', { class: 'num' }, formatUsd(r.totalCostUsd)),
      el('td', { class: 'time-cell' }, timeNode(r.lastActivityAt)))));
    if (summary && rows.length) {
      const t = summary.totals;
      $('cost-foot').replaceChildren(el('tr', null,
        el('th', { scope: 'row' }, 'Total'),
        el('td', { class: 'num' }, formatInt(t.executionCount)),
        el('td', { class: 'num' }, formatUsd(t.totalCostUsd)),
        el('td', { class: 'time-cell' }, timeNode(t.lastActivityAt))));
    } else {
      $('cost-foot').replaceChildren();
    }
    $('cost-table').hidden = rows.length === 0;
    const empty = $('cost-empty');
    empty.textContent = rows.length ? '' : emptyText;
    empty.hidden = !empty.textContent;
    drawChart(rows);
  }

  /** A horizontal bar chart of cost per environment, drawn as SVG at the container's width. */
  function drawChart(rows) {
    const box = $('cost-chart');
    if (!rows.length) {
      box.replaceChildren();
      return;
    }
    const shown = rows.slice(0, CHART_MAX_BARS);
    const width = Math.max(260, Math.floor(box.clientWidth || 600));
    const rowHeight = 28;
    const top = 8;
    const labelWidth = Math.min(180, Math.floor(width * 0.34));
    const valueWidth = 86;
    const barSpace = Math.max(40, width - labelWidth - valueWidth - 16);
    const height = top * 2 + shown.length * rowHeight;
    const max = Math.max(...shown.map((r) => Number(r.totalCostUsd) || 0));
    const maxChars = Math.max(4, Math.floor((labelWidth - 10) / 7.4));

    const chart = svg('svg', {
      class: 'bar-chart',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-labelledby': 'cost-chart-title',
    }, svg('title', { id: 'cost-chart-title' },
      `Cost per environment for ${state.summary ? state.summary.agent : 'the agent'}`));

    shown.forEach((r, i) => {
      const y = top + i * rowHeight;
      const name = r.environmentSlug === null ? '(untagged)' : r.environmentSlug;
      const cost = Number(r.totalCostUsd) || 0;
      let barWidth = max > 0 ? (cost / max) * barSpace : 0;
      if (cost > 0) barWidth = Math.max(barWidth, 2);
      const label = name.length > maxChars ? name.slice(0, maxChars - 1) + '…' : name;
      const runs = `${formatInt(r.executionCount)} execution${r.executionCount === 1 ? '' : 's'}`;
      chart.append(svg('g', { class: 'bar-row' },
        svg('title', null, `${name}: ${formatUsd(cost)} over ${runs}`),
        svg('text', {
          x: labelWidth - 8,
          y: y + rowHeight / 2,
          class: 'bar-label' + (r.environmentSlug === null ? ' bar-label-untagged' : ''),
          'text-anchor': 'end',
          'dominant-baseline': 'central',
        }, label),
        svg('rect', {
          x: labelWidth,
          y: y + 5,
          width: barWidth.toFixed(1),
          height: rowHeight - 10,
          rx: 3,
          class: 'bar' + (r.environmentSlug === null ? ' bar-untagged' : ''),
          dataset: { environment: r.environmentSlug === null ? '' : r.environmentSlug },
        }),
        svg('text', {
          x: labelWidth + barWidth + 6,
          y: y + rowHeight / 2,
          class: 'bar-value',
          'dominant-baseline': 'central',
        }, formatUsd(cost))));
    });

    const parts = [chart];
    if (rows.length > shown.length) {
      parts.push(el('p', { class: 'note' },
        `The ${CHART_MAX_BARS} most expensive of ${formatInt(rows.length)} environments; ` +
        'the table lists them all.'));
    }
    box.replaceChildren(...parts);
  }

  // ---------------------------------------------------------------------------------------
  // Notifications

  const NOTIF_KINDS = {
    environment_cap_warning: 'The registry passed 80% of its environment cap',
    environment_cap_reached: 'The registry is at its cap and refuses new environments',
    budget_threshold: "An environment's budget crossed an alert threshold",
  };
  const NOTIF_STATUSES = {
    pending: 'Not delivered yet; it is tried again with growing waits',
    sent: 'Delivered',
    failed: 'Given up: it could not be delivered',
    unconfigured: 'Kept but not sent: nothing to send it with (see the last error)',
  };

  async function loadNotifications() {
    const seq = ++state.loadSeq.notif;
    const n = state.notif;
    const query = new URLSearchParams({ pageSize: String(NOTIF_PAGE_SIZE) });
    const token = n.tokens[n.page];
    if (token) query.set('pageToken', token);
    $('notif-table').setAttribute('aria-busy', 'true');
    $('notif-prev').disabled = true;
    $('notif-next').disabled = true;
    try {
      const page = await api('GET', tenantPath('/notifications?' + query));
      if (seq !== state.loadSeq.notif) return;
      showAlert($('notif-alert'), '');
      n.next = page.nextPageToken || null;
      renderNotifications(page.notifications || []);
    } catch (e) {
      if (seq !== state.loadSeq.notif) return;
      n.next = null;
      $('notif-body').replaceChildren();
      $('notif-table').hidden = true;
      $('notif-empty').hidden = true;
      report(e, $('notif-alert'));
    } finally {
      if (seq === state.loadSeq.notif) {
        $('notif-table').removeAttribute('aria-busy');
        $('notif-prev').disabled = n.page === 0;
        $('notif-next').disabled = !n.next;
        $('notif-page').textContent = `Page ${n.page + 1}`;
      }
    }
  }

  function renderNotifications(rows) {
    $('notif-body').replaceChildren(...rows.map(notificationRow));
    const empty = $('notif-empty');
    if (rows.length) empty.textContent = '';
    else if (state.notif.page > 0) empty.textContent = 'No more notifications.';
    else {
      empty.textContent = 'No notifications yet: they are sent when the registry nears its ' +
        'cap or a budget threshold is crossed';
    }
    empty.hidden = rows.length > 0;
    $('notif-table').hidden = rows.length === 0;
  }

  /** A webhook's JSON body reads better indented; anything else is shown as it is. */
  function readableBody(text) {
    const body = String(text || '');
    if (!body.startsWith('{')) return body;
    try {
      return JSON.stringify(JSON.parse(body), null, 2);
    } catch (e) {
      return body;
    }
  }

  function notificationRow(n) {
    const status = Object.hasOwn(NOTIF_STATUSES, n.status) ? n.status : 'other';
    const recipients = n.recipients || [];
    // A webhook has no recipients; its target URL is where it goes.
    const sentTo = n.channel === 'webhook'
      ? `webhook ${n.target || ''}`.trim()
      : recipients.join(', ');
    return el('tr', { dataset: { id: n.id } },
      el('td', { class: 'time-cell' }, timeNode(n.createdAt)),
      el('td', { class: 'mono kind-cell', title: NOTIF_KINDS[n.kind] || null }, n.kind),
      el('td', { class: 'subject-cell' }, el('details', { class: 'notif-details' },
        el('summary', null, n.subject || '(no subject)'),
        el('pre', { class: 'notif-text' }, readableBody(n.body)))),
      el('td', { class: 'recipients-cell' }, sentTo
        ? sentTo
        : el('span', { class: 'muted' }, 'none')),
      el('td', null, el('span', {
        class: 'badge badge-' + status,
        title: NOTIF_STATUSES[n.status] || null,
      }, n.status)),
      el('td', { class: 'num' }, formatInt(n.attempts)),
      el('td', { class: 'error-cell' },
        n.lastError ? n.lastError : el('span', { class: 'muted' }, '—')));
  }

  function nextNotifications() {
    const n = state.notif;
    if (!n.next) return;
    n.tokens[n.page + 1] = n.next;
    n.page += 1;
    loadNotifications();
  }

  function previousNotifications() {
    if (state.notif.page === 0) return;
    state.notif.page -= 1;
    loadNotifications();
  }

  // ---------------------------------------------------------------------------------------
  // Start

  function wire() {
    $('signin-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', signOut);
    $('create-form').addEventListener('submit', createEnvironment);
    $('new-slug').addEventListener('input', checkSlugInput);
    $('env-filter').addEventListener('input', renderEnvTable);
    $('diag-toggle').addEventListener('click', toggleDiagnostics);
    $('delete-confirm').addEventListener('click', deleteEnvironment);
    $('delete-cancel').addEventListener('click', () => {
      state.pendingDelete = null;
      $('delete-dialog').close();
    });
    $('delete-dialog').addEventListener('close', () => {
      state.pendingDelete = null;
    });
    $('exec-filters').addEventListener('submit', applyFilters);
    $('exec-clear').addEventListener('click', clearFilters);
    $('exec-next').addEventListener('click', nextPage);
    $('exec-prev').addEventListener('click', previousPage);
    $('cost-agent').addEventListener('change', loadSummary);
    $('budget-form').addEventListener('submit', saveBudget);
    $('budget-remove').addEventListener('click', removeBudget);
    $('budget-cancel').addEventListener('click', () => closeBudget(''));
    $('budget-dialog').addEventListener('close', () => {
      state.budgetEnv = null;
    });
    $('notif-refresh').addEventListener('click', loadNotifications);
    $('notif-next').addEventListener('click', nextNotifications);
    $('notif-prev').addEventListener('click', previousNotifications);
    window.addEventListener('hashchange', () => route(true));

    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (state.summary && !$('monitoring-view').hidden) {
          drawChart(state.summary.environments || []);
        }
      }, 150);
    });
    setInterval(refreshTimes, 30000);
    checkSlugInput();
  }

  async function boot() {
    wire();
    try {
      startSession(await api('GET', '/v1/session'));
    } catch (e) {
      showSignIn(e.status === 401 ? '' : e.message, '');
    }
  }

  boot();
})();
