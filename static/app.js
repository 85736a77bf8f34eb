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
    loadSeq: { envs: 0, exec: 0, cost: 0 },
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
    $('nav').hidden = true;
    $('who').hidden = true;
    $('tenant-name').textContent = '';
    for (const id of ['env-body', 'exec-body', 'cost-body', 'cost-foot', 'cost-chart',
      'diag-panel', 'env-options']) {
      $(id).replaceChildren();
    }
    for (const id of ['env-alert', 'create-alert', 'exec-alert', 'cost-alert']) {
      showAlert($(id), '');
    }
    setStatus('');
    $('diag-panel').hidden = true;
    $('diag-toggle').setAttribute('aria-expanded', 'false');
    const dialog = $('delete-dialog');
    if (dialog.open) dialog.close();
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
  ];

  async function loadEnvironments() {
    const seq = ++state.loadSeq.envs;
    $('env-table').setAttribute('aria-busy', 'true');
    try {
      const { items, last } = await listAll(
        tenantPath('/environments'), 'environments', ENV_PAGE_SIZE);
      if (seq !== state.loadSeq.envs || !state.tenant) return;
      state.envs = items;
      state.count = last.count;
      state.cap = last.cap;
      showAlert($('env-alert'), '');
      renderMeter();
      renderEnvTable();
      fillEnvironmentOptions();
      if (!$('diag-panel').hidden) loadDiagnostics();
    } catch (e) {
      if (seq === state.loadSeq.envs) report(e, $('env-alert'));
    } finally {
      $('env-table').removeAttribute('aria-busy');
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
      note.textContent = 'The registry is over 80% full. At the cap, executions that name a ' +
        'new slug are refused; Diagnostics shows what is filling it.';
    } else {
      note.textContent = '';
    }
    note.hidden = !note.textContent;
  }

  function compareEnvs(a, b) {
    const { key, dir } = state.sort;
    const column = ENV_COLUMNS.find((c) => c.key === key);
    const x = a[key];
    const y = b[key];
    // Missing values (no display name, never used) always go last, whatever the direction.
    const xMissing = x === null || x === undefined || x === '';
    const yMissing = y === null || y === undefined || y === '';
    if (xMissing || yMissing) {
      if (xMissing && yMissing) return a.slug < b.slug ? -1 : 1;
      return xMissing ? 1 : -1;
    }
    let order;
    if (column.kind === 'number') order = Number(x) - Number(y);
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
      el('td', { class: 'actions' }, remove));
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
    const runs = n === 1
      ? 'Its 1 execution keeps the slug, with its'
      : `Its ${formatInt(n)} executions keep the slug, with their`;
    $('delete-text').textContent =
      `Delete the environment ${env.slug}? ${runs} history and costs; only the registry ` +
      `entry is removed. An execution that names ${env.slug} again registers it anew.`;
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
      $('exec-table').removeAttribute('aria-busy');
      $('exec-prev').disabled = exec.page === 0;
      $('exec-next').disabled = !exec.next;
      $('exec-page').textContent = `Page ${exec.page + 1}`;
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
