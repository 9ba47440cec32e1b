// agenttrace viewer: reads the query API with the key kept in session
// storage and renders the page named by <body data-page>. Plain
// JavaScript, no build step, nothing fetched from elsewhere.
'use strict';
(() => {
  const KEY = 'agenttrace.api_key';
  const body = document.body;
  const page = body.dataset.page;
  const pageID = body.dataset.id;
  const params = new URLSearchParams(location.search);
  const $ = (sel, el) => (el || document).querySelector(sel);
  const content = $('#content');
  const esc = (s) => String(s == null ? '' : s).replace(/[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const enc = encodeURIComponent;

  // ---- API -------------------------------------------------------------

  class APIError extends Error {
    constructor(status, code, message, param) {
      super(message);
      this.status = status;
      this.code = code;
      this.param = param || '';
    }
  }

  async function api(path, q) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(q || {})) {
      if (v !== '' && v != null) url.searchParams.set(k, v);
    }
    const headers = { Accept: 'application/json' };
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = 'Bearer ' + key;
    let r;
    try {
      r = await fetch(url, { headers, credentials: 'omit' });
    } catch (e) {
      throw new APIError(0, 'network', 'the server did not answer (' + e.message + ')');
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const e = (data && data.error) || {};
      throw new APIError(r.status, e.code || 'http_' + r.status, e.message || r.statusText || 'request failed', e.param);
    }
    return data;
  }

  // ---- formatting --------------------------------------------------------

  const pad = (n, w) => String(n).padStart(w || 2, '0');
  function fmtTime(iso, ms) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    const s = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    return ms ? s + '.' + pad(d.getMilliseconds(), 3) : s;
  }
  function fmtDur(ms) {
    if (ms == null || isNaN(ms)) return '';
    if (ms === 0) return '0';
  if (ms < 1) return (ms * 1000).toFixed(0) + ' µs';
    if (ms < 1000) return (ms < 10 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(2) + ' s';
    const s = Math.round(ms / 1000);
    return Math.floor(s / 60) + 'm ' + pad(s % 60) + 's';
  }
  const fmtInt = (n) => (n || 0).toLocaleString('en-US');
  // fmtUSD prints nano-USD exactly: at least two decimals, no trailing zeros.
  function fmtUSD(nano) {
    nano = Number(nano || 0);
    const neg = nano < 0;
    if (neg) nano = -nano;
    const whole = Math.floor(nano / 1e9);
    let frac = pad(nano - whole * 1e9, 9).replace(/0+$/, '');
    if (frac.length < 2) frac = frac.padEnd(2, '0');
    return (neg ? '-$' : '$') + whole.toLocaleString('en-US') + '.' + frac;
  }
  const typeClass = (t) => (['llm', 'tool', 'task', 'retrieval', 'trace'].includes(t) ? t : 'span');
  const statusBadge = (s) => '<span class="badge ' + (s === 'error' ? 'error' : 'ok') + '">' + esc(s || 'ok') + '</span>';

  // ---- errors, auth ------------------------------------------------------

  function showError(err, where) {
    if (err instanceof APIError && err.status === 401) return askKey(err.message);
    const box = $('#error');
    const field = err.param && $('.ferr[data-for="' + CSS.escape(err.param) + '"]');
    if (field) {
      field.textContent = err.message;
      const input = field.parentElement.querySelector('input,select');
      if (input) input.classList.add('bad');
    }
    if (box && !field) {
      box.hidden = false;
      box.textContent = (where ? where + ': ' : '') + (err.message || String(err));
    }
    if (content && /loading/.test(content.innerHTML)) content.innerHTML = '';
  }

  function askKey(message) {
    const had = !!sessionStorage.getItem(KEY);
    content.innerHTML = '<form class="keyform" id="keyform"><h2>API key</h2>' +
      '<p>This server needs an API key to read traces. It is kept in this tab only (session storage) ' +
      'and sent as a Bearer token.</p>' + (had ? '<p class="ferr">' + esc(message) + '</p>' : '') +
      '<input type="password" name="key" autocomplete="off" placeholder="API key" autofocus required>' +
      '<button type="submit">Use key</button></form>';
    $('#keyform').addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem(KEY, e.target.key.value.trim());
      location.reload();
    });
  }

  function authArea() {
    const a = $('#auth');
    if (!a || !sessionStorage.getItem(KEY)) return;
    a.innerHTML = '<span class="muted">key set</span> <a href="#" id="forget">forget</a>';
    $('#forget').addEventListener('click', (e) => {
      e.preventDefault();
      sessionStorage.removeItem(KEY);
      location.reload();
    });
  }

  // ---- windows, URLs -----------------------------------------------------

  const windows = { '15m': 9e5, '1h': 36e5, '6h': 216e5, '24h': 864e5, '7d': 6048e5, '30d': 2592e6 };
  // win returns the API window of the page's URL; relative tells whether
  // it moves with the clock (a preset window, no exact times).
  function win(def) {
    let start = params.get('start_time') || '';
    let end = params.get('end_time') || '';
    const w = params.get('window') || def || '24h';
    const relative = !start && !end;
    const now = Date.now();
    if (!end) end = new Date(now + 1000).toISOString();
    if (!start) start = new Date(Date.parse(end) - (windows[w] || windows['24h'])).toISOString();
    if (isNaN(Date.parse(start))) return { start_time: start, end_time: end, relative: false };
    return { start_time: start, end_time: end, relative };
  }
  function pick(names) {
    const q = {};
    for (const n of names) {
      const v = (params.get(n) || '').trim();
      if (v) q[n] = v;
    }
    return q;
  }
  // link returns the page's URL with changes (null deletes).
  function link(changes) {
    const p = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) {
      if (v == null || v === '') p.delete(k); else p.set(k, v);
    }
    const s = p.toString();
    return location.pathname + (s ? '?' + s : '');
  }
  // pager renders links to the pages before and after one listed with dir.
  function pager(pg, w, dir) {
    const pin = { window: 'custom', start_time: w.start_time, end_time: w.end_time };
    const down = dir === 'up' ? pg.prev_cursor : pg.next_cursor;
    const up = dir === 'up' ? pg.next_cursor : pg.prev_cursor;
    const hasDown = dir === 'up' ? !!params.get('cursor') : pg.has_next_page;
    const hasUp = dir === 'up' ? pg.has_next_page : !!params.get('cursor');
    const a = (ok, cur, d, label) => ok && cur
      ? '<a href="' + esc(link(Object.assign({}, pin, { cursor: cur, direction: d }))) + '" rel="' + (d === 'up' ? 'prev' : 'next') + '">' + label + '</a>'
      : '<span class="off">' + label + '</span>';
    return '<div class="pager">' + a(hasUp, up, 'up', '← Previous') + a(hasDown, down, 'down', 'Next →') +
      '<a href="' + esc(link({ cursor: null, direction: null })) + '">First page</a></div>';
  }

  // ---- JSON --------------------------------------------------------------

  const copies = [];
  function copyButton(text) {
    copies.push(text);
    return '<button type="button" class="copy" data-copy="' + (copies.length - 1) + '">copy</button>';
  }
  document.addEventListener('click', (e) => {
    const b = e.target.closest && e.target.closest('button[data-copy]');
    if (!b) return;
    const text = copies[Number(b.dataset.copy)];
    const done = () => { b.textContent = 'copied'; setTimeout(() => { b.textContent = 'copy'; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => { b.textContent = 'copy failed'; });
    } else {
      const ta = document.createElement('textarea');
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      try { document.execCommand('copy'); done(); } catch (err) { b.textContent = 'copy failed'; }
      ta.remove();
    }
  });

  function maybeJSON(s) {
    if (typeof s !== 'string') return undefined;
    const t = s.trim();
    if (!(t.startsWith('{') && t.endsWith('}')) && !(t.startsWith('[') && t.endsWith(']'))) return undefined;
    try { return JSON.parse(t); } catch (e) { return undefined; }
  }
  function jsonHTML(v, depth) {
    depth = depth || 0;
    if (v === null) return '<span class="b">null</span>';
    if (typeof v === 'string') {
      const p = depth < 6 ? maybeJSON(v) : undefined;
      if (p !== undefined) return jsonHTML(p, depth);
      if (v.length > 2000) {
        return '<details><summary><span class="s">' + esc(v.slice(0, 300)) + '…</span> <span class="muted">(' +
          fmtInt(v.length) + ' characters)</span></summary><span class="s">' + esc(v) + '</span></details>';
      }
      return '<span class="s">' + esc(v) + '</span>';
    }
    if (typeof v === 'number') return '<span class="n">' + v + '</span>';
    if (typeof v === 'boolean') return '<span class="b">' + v + '</span>';
    const arr = Array.isArray(v);
    const keys = arr ? v.map((_, i) => i) : Object.keys(v);
    if (!keys.length) return arr ? '[]' : '{}';
    const inner = keys.map((k) => '<div>' + (arr ? '' : '<span class="k">' + esc(k) + '</span>: ') + jsonHTML(v[k], depth + 1) + '</div>').join('');
    return '<details' + (depth < 2 ? ' open' : '') + '><summary>' + (arr ? '[' : '{') + ' <span class="muted">' + keys.length +
      (arr ? ' items' : ' keys') + '</span></summary>' + inner + '</details>' + (arr ? ']' : '}');
  }
  function jsonBlock(v) {
    const text = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
    return '<div class="json">' + copyButton(text) + jsonHTML(v) + '</div>';
  }

  // ---- traces ------------------------------------------------------------

  const traceFilters = ['tenant_id', 'user_id', 'session_id', 'environment', 'name', 'status', 'tags',
    'sort_field', 'sort_order', 'limit', 'cursor', 'direction'];

  function traceRows(traces) {
    return traces.map((t) => '<tr data-id="' + esc(t.id) + '"><td>' + esc(fmtTime(t.start_time)) + '</td>' +
      '<td><a href="/traces/' + esc(t.id) + (t.tenant_id ? '?tenant_id=' + enc(t.tenant_id) : '') + '">' + esc(t.name || '(no root yet)') + '</a></td>' +
      '<td class="num">' + fmtDur(t.duration_ms) + '</td><td>' + statusBadge(t.status) + '</td>' +
      '<td class="num">' + fmtInt(t.span_count) + '</td><td>' + esc((t.models || []).join(', ')) + '</td>' +
      '<td class="num">' + fmtInt(t.total_tokens) + '</td><td class="num">' + fmtUSD(t.total_cost_nano_usd) + '</td>' +
      '<td>' + (t.session_id ? '<a href="/sessions/' + enc(t.session_id) + (t.tenant_id ? '?tenant_id=' + enc(t.tenant_id) : '') + '">' + esc(t.session_id) + '</a>' : '') + '</td>' +
      '<td>' + (t.user_id ? '<a href="' + esc(link({ user_id: t.user_id, cursor: null, direction: null })) + '">' + esc(t.user_id) + '</a>' : '') + '</td>' +
      '<td>' + esc(t.tenant_id) + '</td></tr>').join('');
  }

  async function tracesPage() {
    const w = win('24h');
    const q = Object.assign(pick(traceFilters), { start_time: w.start_time, end_time: w.end_time });
    const pg = await api('/v1/traces', q);
    if (!pg.traces.length) {
      content.innerHTML = '<div class="empty"><h1>No traces</h1><p>Nothing started between ' + esc(fmtTime(w.start_time)) +
        ' and ' + esc(fmtTime(w.end_time)) + (Object.keys(pick(traceFilters)).length ? ' with these filters' : '') +
        '.</p><p>Point an OpenTelemetry exporter at this server (<code>' + esc(location.origin) + '/v1/traces</code>) or widen the window.</p></div>';
    } else {
      content.innerHTML = '<table class="list" id="traces"><thead><tr><th>Start</th><th>Name</th><th class="num">Duration</th>' +
        '<th>Status</th><th class="num">Spans</th><th>Models</th><th class="num">Tokens</th><th class="num">Cost</th>' +
        '<th>Session</th><th>User</th><th>Tenant</th></tr></thead><tbody>' + traceRows(pg.traces) + '</tbody></table>' +
        pager(pg, w, q.direction || 'down');
    }
    // New traces appear without a reload on a first page of a moving window.
    if (w.relative && !q.cursor) poll(q, pg.traces.length ? pg.traces[0].id : '');
  }

  function poll(q, first) {
    const live = $('#live');
    let n = 0;
    const tick = async () => {
      if (++n > 2000) return; // stop after a few hours of polling
      if (document.hidden) return setTimeout(tick, 5000);
      const w = win('24h');
      try {
        const pg = await api('/v1/traces', Object.assign({}, q, { start_time: w.start_time, end_time: w.end_time }));
        const top = pg.traces.length ? pg.traces[0].id : '';
        if (top !== first) {
          first = top;
          const tb = $('#traces tbody');
          if (tb) tb.innerHTML = traceRows(pg.traces); else if (pg.traces.length) return location.reload();
        }
        if (live) live.textContent = 'live · ' + fmtTime(new Date().toISOString());
      } catch (e) {
        if (live) live.textContent = 'live updates paused: ' + e.message;
      }
      setTimeout(tick, 5000);
    };
    setTimeout(tick, 5000);
  }

  // ---- spans search ------------------------------------------------------

  async function spansPage() {
    const w = win('24h');
    const q = Object.assign(pick(['model', 'type', 'status', 'prompt_slug', 'tags', 'name', 'tenant_id', 'user_id',
      'session_id', 'limit', 'cursor', 'direction']), { start_time: w.start_time, end_time: w.end_time });
    const pg = await api('/v1/spans', q);
    if (!pg.spans.length) {
      content.innerHTML = '<div class="empty"><h1>No spans</h1><p>No span matches in this window.</p></div>';
      return;
    }
    content.innerHTML = '<table class="list" id="spans"><thead><tr><th>Start</th><th>Name</th><th>Type</th><th>Status</th>' +
      '<th>Model</th><th>Prompt</th><th class="num">Tokens</th><th class="num">Cost</th><th class="num">Latency</th>' +
      '<th>Session</th><th>User</th><th>Trace</th></tr></thead><tbody>' + pg.spans.map((s) =>
      '<tr><td>' + esc(fmtTime(s.start_time)) + '</td><td><a href="/traces/' + esc(s.trace_id) + '?span=' + esc(s.id) + '">' +
      esc(s.name) + '</a></td><td class="t-' + typeClass(s.type) + '">' + esc(s.type) + '</td><td>' + statusBadge(s.status) +
      '</td><td>' + esc(s.model) + '</td><td>' + esc(s.prompt_slug ? s.prompt_slug + (s.prompt_version ? '@' + s.prompt_version : '') : '') +
      '</td><td class="num">' + fmtInt(s.total_tokens) + '</td><td class="num">' + fmtUSD(s.cost_nano_usd) + '</td><td class="num">' +
      fmtDur(s.latency_ms) + '</td><td>' + (s.session_id ? '<a href="/sessions/' + enc(s.session_id) + '">' + esc(s.session_id) + '</a>' : '') +
      '</td><td>' + esc(s.user_id) + '</td><td class="mono"><a href="/traces/' + esc(s.trace_id) + '">' + esc(s.trace_id.slice(0, 12)) +
      '…</a></td></tr>').join('') + '</tbody></table>' + pager(pg, w, q.direction || 'down');
  }

  // ---- trace -------------------------------------------------------------

  const attrOf = (s, k) => (s.attributes && Object.prototype.hasOwnProperty.call(s.attributes, k) ? s.attributes[k] : undefined);

  // A trace id may be shared by tenants (trace-context propagation across
  // services): ?tenant_id= shows one tenant's part of it.
  const tenantQ = () => (params.get('tenant_id') ? { tenant_id: params.get('tenant_id') } : {});

  async function tracePage() {
    let tr;
    try {
      tr = await api('/v1/traces/' + enc(pageID), tenantQ());
    } catch (e) {
      if (e.status === 404 || (e.status === 400 && e.param !== 'cursor')) {
        document.title = 'Trace not found · agenttrace';
        content.innerHTML = '<div class="empty" id="notfound"><h1>Trace not found</h1><p>No trace <code>' + esc(pageID) +
          '</code> is stored here' + (sessionStorage.getItem(KEY) ? ' for this key' : '') + '.</p><p>' + esc(e.message) +
          '</p><p><a href="/">Back to the traces</a></p></div>';
        return;
      }
      throw e;
    }
    document.title = (tr.name || 'Trace') + ' · agenttrace';
    content.innerHTML = '<p class="loading muted">Loading ' + fmtInt(tr.span_count) + ' spans…</p>';
    const path = '/v1/traces/' + enc(pageID) + '/spans';
    let spans;
    if (tr.span_count > 1000 && tr.span_count <= 2000) {
      // Two pages: the first and the last, fetched together.
      const [a, z] = await Promise.all([api(path, Object.assign({ limit: 1000 }, tenantQ())), api(path, Object.assign({ limit: 1000, direction: 'up' }, tenantQ()))]);
      const seen = new Set(a.spans.map((s) => s.id));
      spans = a.spans.concat(z.spans.filter((s) => !seen.has(s.id)));
    } else {
      spans = [];
      let cursor = '';
      for (let i = 0; i < 50; i++) {
        const pg = await api(path, Object.assign({ limit: 1000, cursor }, tenantQ()));
        spans.push(...pg.spans);
        if (!pg.has_next_page || !pg.next_cursor) break;
        cursor = pg.next_cursor;
      }
    }
    renderTrace(tr, spans);
  }

  function traceHeader(tr) {
    const st = (label, v) => '<span class="stat">' + label + ' <b>' + v + '</b></span>';
    // A score: its mean (the value, when given once), with the count.
    const num = (v) => (Number.isInteger(v) ? String(v) : Number(v).toPrecision(3).replace(/\.?0+$/, ''));
    const scores = (tr.scores || []).map((s) => '<span class="badge score" title="' + esc('min ' + num(s.min) + ', max ' + num(s.max) + ', last ' + num(s.last)) +
      '">' + esc(s.name) + ' ' + esc(num(s.mean)) + (s.count > 1 ? ' <span class="muted">×' + esc(String(s.count)) + '</span>' : '') + '</span>').join('');
    return '<div class="thead"><h1>' + esc(tr.name || '(no root yet)') + '</h1>' + statusBadge(tr.status) +
      st('start', esc(fmtTime(tr.start_time, true))) + st('duration', fmtDur(tr.duration_ms)) + st('spans', fmtInt(tr.span_count)) +
      (tr.error_count ? st('errors', '<span class="st-error">' + fmtInt(tr.error_count) + '</span>') : '') +
      st('tokens', '<span id="t-tokens">' + fmtInt(tr.total_tokens) + '</span>') +
      '<span class="stat muted">(in ' + fmtInt(tr.input_tokens) + ', out ' + fmtInt(tr.output_tokens) + ')</span>' +
      st('cost', '<span id="t-cost">' + fmtUSD(tr.total_cost_nano_usd) + '</span>') + st('LLM calls', fmtInt(tr.request_count)) +
      (tr.models && tr.models.length ? st('models', esc(tr.models.join(', '))) : '') +
      (tr.session_id ? st('session', '<a href="/sessions/' + enc(tr.session_id) + '">' + esc(tr.session_id) + '</a>') : '') +
      (tr.user_id ? st('user', '<a href="/?user_id=' + enc(tr.user_id) + '">' + esc(tr.user_id) + '</a>') : '') +
      (tr.tenant_id ? st('tenant', '<a href="/?tenant_id=' + enc(tr.tenant_id) + '">' + esc(tr.tenant_id) + '</a> · <a href="/usage?tenant_id=' +
        enc(tr.tenant_id) + '">usage</a>') : '') +
      (tr.environment ? st('env', esc(tr.environment)) : '') + scores + '</div>';
  }

  function renderTrace(tr, spans) {
    // One flat list in pre-order, children by start time.
    const byID = new Map(spans.map((s) => [s.id, { s, kids: [] }]));
    const roots = [];
    for (const n of byID.values()) {
      const p = n.s.parent_id && byID.get(n.s.parent_id);
      if (p && p !== n) p.kids.push(n); else roots.push(n);
    }
    const order = [];
    const stack = roots.sort((a, b) => a.s.start_time.localeCompare(b.s.start_time)).reverse().map((n) => [n, 0]);
    while (stack.length) {
      const [n, d] = stack.pop();
      n.depth = d;
      n.i = order.length;
      order.push(n);
      n.kids.sort((a, b) => a.s.start_time.localeCompare(b.s.start_time));
      for (let k = n.kids.length - 1; k >= 0; k--) stack.push([n.kids[k], d + 1]);
    }
    for (let i = order.length - 1; i >= 0; i--) {
      const n = order[i];
      n.size = 1 + n.kids.reduce((a, k) => a + k.size, 0);
      n.errs = (n.s.status === 'error' ? 1 : 0) + n.kids.reduce((a, k) => a + k.errs, 0);
    }
    const t0 = Math.min(...spans.map((s) => Date.parse(s.start_time)));
    const t1 = Math.max(...spans.map((s) => Date.parse(s.end_time)));
    const total = Math.max(t1 - t0, 1);
    // Below the root, a node with more than 50 children starts collapsed.
    const collapsed = new Set(order.filter((n) => n.depth > 0 && n.kids.length > 50).map((n) => n.i));

    let rows = '';
    for (let b = 0; b < order.length; b += 100) {
      rows += '<div class="blk" style="contain-intrinsic-size:auto ' + Math.min(100, order.length - b) * 22 + 'px">';
      for (const n of order.slice(b, b + 100)) {
        const s = n.s;
        const left = ((Date.parse(s.start_time) - t0) / total) * 100;
        const width = (Math.max(Date.parse(s.end_time) - Date.parse(s.start_time), 0) / total) * 100;
        const ty = typeClass(s.type);
        rows += '<div class="row' + (s.status === 'error' ? ' err' : '') + '" data-i="' + n.i + '" data-type="' + esc(s.type) +
          '" style="--d:' + n.depth + '" title="' + esc(s.name) + '"><span class="nm"><span class="tg">' + (n.kids.length ? '▾' : '') +
          '</span><i class="ic ty-' + ty + '"></i>' + esc(s.name) + (s.model ? ' <span class="muted">' + esc(s.model) + '</span>' : '') +
          '</span><span class="br"><i class="ty-' + ty + '" style="left:' + left.toFixed(3) + '%;width:' + width.toFixed(3) + '%"></i></span>' +
          '<span class="du">' + fmtDur(s.latency_ms) + '</span></div>';
      }
      rows += '</div>';
    }
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => '<line x1="' + f * 100 + '%" x2="' + f * 100 + '%" y1="12" y2="18"></line>' +
      '<text x="' + Math.min(f * 100, 96) + '%" y="10" text-anchor="' + (f === 1 ? 'end' : f === 0 ? 'start' : 'middle') + '">' +
      fmtDur(total * f) + '</text>').join('');
    content.innerHTML = traceHeader(tr) + '<div class="panes"><div class="tree" id="tree" tabindex="0">' +
      '<div class="tools"><input id="find" placeholder="Filter spans  ( / )" value="' + esc(params.get('q') || '') + '">' +
      '<button type="button" class="chip" data-chip="error">Errors</button><button type="button" class="chip" data-chip="llm">LLM</button>' +
      '<button type="button" class="chip" data-chip="tool">Tools</button><span id="count" class="muted"></span><span class="grow"></span>' +
      '<button type="button" class="chip" id="keys" title="keyboard">?</button></div>' +
      '<div class="axis"><span></span><svg>' + ticks + '</svg><span></span></div>' + rows + '</div>' +
      '<div class="detail" id="detail"></div></div>';

    const tree = $('#tree');
    const rowEls = Array.from(tree.querySelectorAll('.row'));
    let sel = -1;
    let chip = '';
    const visible = new Array(order.length).fill(true);

    function apply() {
      const q = ($('#find').value || '').trim().toLowerCase();
      let keep = null;
      if (q || chip) {
        keep = new Array(order.length).fill(false);
        let m = 0;
        for (const n of order) {
          const s = n.s;
          const hit = (!q || (s.name + ' ' + s.type + ' ' + (s.model || '') + ' ' + s.id).toLowerCase().includes(q)) &&
            (!chip || (chip === 'error' ? s.status === 'error' : s.type === chip));
          if (hit) {
            m++;
            for (let p = n; p && !keep[p.i]; p = byID.get(p.s.parent_id)) keep[p.i] = true;
          }
        }
        $('#count').textContent = m + ' of ' + order.length;
      } else {
        $('#count').textContent = '';
      }
      let cut = -1;
      for (const n of order) {
        if (cut >= 0 && n.depth <= cut) cut = -1;
        const hidden = cut >= 0 || (keep && !keep[n.i]);
        const was = visible[n.i];
        visible[n.i] = !hidden;
        const el = rowEls[n.i];
        if (was === hidden) el.classList.toggle('hide', hidden);
        const tg = el.firstChild.firstChild;
        if (n.kids.length && (collapsed.has(n.i) || n.shut)) {
          n.shut = collapsed.has(n.i);
          tg.textContent = collapsed.has(n.i) ? '▸' : '▾';
          el.dataset.hidden = collapsed.has(n.i) ? n.size - 1 : '';
          el.title = collapsed.has(n.i) ? n.s.name + ': ' + (n.size - 1) + ' spans hidden' + (n.errs ? ', ' + n.errs + ' errors' : '') : n.s.name;
        }
        if (!hidden && collapsed.has(n.i) && cut < 0) cut = n.depth;
      }
      const u = new URL(location.href);
      if (q) u.searchParams.set('q', q); else u.searchParams.delete('q');
      history.replaceState(null, '', u);
    }

    function select(i, scroll) {
      if (i < 0 || i >= order.length) return;
      if (sel >= 0) rowEls[sel].classList.remove('sel');
      sel = i;
      rowEls[i].classList.add('sel');
      if (scroll) rowEls[i].scrollIntoView({ block: 'nearest' });
      $('#detail').innerHTML = spanDetail(order[i].s, tr, i === 0 ? spans : null);
      const u = new URL(location.href);
      u.searchParams.set('span', order[i].s.id);
      history.replaceState(null, '', u);
    }
    function move(step) {
      for (let i = sel + step; i >= 0 && i < order.length; i += step) {
        if (visible[i]) return select(i, true);
      }
    }
    function toggle(i, open) {
      if (!order[i].kids.length) return;
      if (open === undefined) open = collapsed.has(i);
      if (open) collapsed.delete(i); else collapsed.add(i);
      apply();
    }

    tree.addEventListener('click', (e) => {
      const r = e.target.closest('.row');
      if (r) {
        const i = Number(r.dataset.i);
        if (e.target.closest('.tg')) toggle(i); else select(i, false);
        return;
      }
      const c = e.target.closest('[data-chip]');
      if (c) {
        chip = chip === c.dataset.chip ? '' : c.dataset.chip;
        for (const b of tree.querySelectorAll('[data-chip]')) b.classList.toggle('on', b.dataset.chip === chip);
        apply();
      }
      if (e.target.id === 'keys') help();
    });
    $('#find').addEventListener('input', apply);
    document.addEventListener('keydown', (e) => {
      const typing = /INPUT|SELECT|TEXTAREA/.test(document.activeElement && document.activeElement.tagName);
      if (typing) {
        if (e.key === 'Escape') { $('#find').value = ''; apply(); tree.focus(); }
        return;
      }
      if (e.metaKey || e.ctrlKey || e.altKey) return;
      const n = order[sel];
      switch (e.key) {
        case 'j': case 'ArrowDown': move(1); break;
        case 'k': case 'ArrowUp': move(-1); break;
        case 'ArrowLeft': case 'h':
          if (n && n.kids.length && !collapsed.has(sel)) toggle(sel, false);
          else if (n && byID.get(n.s.parent_id)) select(byID.get(n.s.parent_id).i, true);
          break;
        case 'ArrowRight': case 'l': if (n) toggle(sel, true); break;
        case '[': order.forEach((o) => { if (o.kids.length && o.depth > 0) collapsed.add(o.i); }); apply(); break;
        case ']': collapsed.clear(); apply(); break;
        case '/': $('#find').focus(); break;
        case 'Escape': chip = ''; $('#find').value = ''; apply(); break;
        case '?': help(); break;
        default: return;
      }
      e.preventDefault();
    });
    apply();
    const want = params.get('span');
    const start = want ? order.findIndex((n) => n.s.id === want) : 0;
    select(start >= 0 ? start : 0, true);
    tree.focus({ preventScroll: true });
  }

  function help() {
    const h = $('#help');
    if (h) return h.remove();
    const d = document.createElement('div');
    d.className = 'help';
    d.id = 'help';
    d.innerHTML = '<b>Keys</b><br><kbd>j</kbd>/<kbd>k</kbd> or <kbd>↓</kbd>/<kbd>↑</kbd> next, previous span<br>' +
      '<kbd>←</kbd>/<kbd>→</kbd> collapse, expand (← again: parent)<br><kbd>[</kbd>/<kbd>]</kbd> collapse, expand all<br>' +
      '<kbd>/</kbd> filter spans, <kbd>Esc</kbd> clear<br><kbd>?</kbd> this help';
    document.body.appendChild(d);
  }

  // messages returns the conversation of a span: the GenAI input and
  // output messages, or for the root the trace's agenttrace.message events.
  function messages(s, all) {
    const out = [];
    const add = (raw, from) => {
      let v = raw;
      if (typeof v === 'string') v = maybeJSON(v);
      if (!Array.isArray(v)) return;
      for (const m of v) if (m && typeof m === 'object') out.push(Object.assign({ from }, m));
    };
    add(attrOf(s, 'gen_ai.input.messages'), 'input');
    add(attrOf(s, 'gen_ai.output.messages'), 'output');
    if (!out.length && all) {
      for (const sp of all) {
        for (const ev of sp.events || []) {
          if (ev.name !== 'agenttrace.message') continue;
          const a = ev.attributes || {};
          const parts = maybeJSON(a.content);
          out.push({ role: a.role, parts: Array.isArray(parts) ? parts : undefined, content: Array.isArray(parts) ? undefined : a.content,
            internal: a.internal === true || a.internal === 'true', tool_call_id: a.tool_call_id, time: ev.time });
        }
      }
      out.sort((a, b) => String(a.time).localeCompare(String(b.time)));
    }
    return out;
  }

  function messageHTML(m) {
    const role = String(m.role || 'message');
    let body = '';
    const parts = Array.isArray(m.parts) ? m.parts : [];
    for (const p of parts) {
      if (!p || typeof p !== 'object') continue;
      if (p.type === 'text' || (p.content != null && !p.type)) body += '<div class="txt">' + esc(typeof p.content === 'string' ? p.content : JSON.stringify(p.content)) + '</div>';
      else if (p.type === 'tool_call') {
        body += '<div class="call"><b>→ ' + esc(p.name) + '</b> <span class="muted mono">' + esc(p.id || '') + '</span>' + jsonBlock(p.arguments == null ? {} : p.arguments) + '</div>';
      } else if (p.type === 'tool_call_response') {
        body += '<div class="call"><b>← result</b> <span class="muted mono">' + esc(p.id || '') + '</span>' + jsonBlock(p.response == null ? null : p.response) + '</div>';
      } else body += jsonBlock(p);
    }
    if (!parts.length && m.content != null) body += '<div class="txt">' + esc(typeof m.content === 'string' ? m.content : JSON.stringify(m.content, null, 2)) + '</div>';
    const cls = ['user', 'assistant', 'system', 'tool'].includes(role) ? role : '';
    return '<div class="msg ' + cls + (m.internal ? ' internal' : '') + '"><div class="role">' + esc(role) +
      (m.internal ? ' · internal' : '') + (m.tool_call_id ? ' <span class="mono">' + esc(m.tool_call_id) + '</span>' : '') +
      (m.finish_reason ? ' · ' + esc(m.finish_reason) : '') + '</div>' + body + '</div>';
  }

  function tokenHTML(s) {
    const inp = s.input_tokens || 0;
    const out = s.output_tokens || 0;
    const cr = s.cache_read_tokens || 0;
    const cw = s.cache_creation_tokens || 0;
    const rs = s.reasoning_tokens || 0;
    const parts = [['tk-in', 'input (uncached)', Math.max(inp - cr - cw, 0)], ['tk-cr', 'cache read', cr], ['tk-cw', 'cache write', cw],
      ['tk-out', 'output', Math.max(out - rs, 0)], ['tk-rs', 'reasoning', rs]];
    const sum = Math.max(inp + out, 1);
    return '<div class="tokbar">' + parts.map((p) => p[2] ? '<span class="' + p[0] + '" style="width:' + (p[2] / sum * 100).toFixed(2) + '%" title="' + p[1] + ' ' + p[2] + '"></span>' : '').join('') +
      '</div><div class="legend">' + parts.map((p) => '<span><i class="' + p[0] + '"></i>' + p[1] + ' <b>' + fmtInt(p[2]) + '</b></span>').join('') + '</div>' +
      '<dl class="kv" id="d-usage"><dt>input tokens</dt><dd id="d-in">' + fmtInt(inp) + '</dd><dt>output tokens</dt><dd id="d-out">' + fmtInt(out) +
      '</dd><dt>total tokens</dt><dd id="d-total">' + fmtInt(s.total_tokens) + '</dd><dt>cost</dt><dd id="d-cost">' + fmtUSD(s.cost_nano_usd) + '</dd>' +
      '<dt>cost source</dt><dd>' + esc(s.cost_source || '—') + '</dd>' + (s.price_table_version ? '<dt>price table</dt><dd>' + esc(s.price_table_version) + '</dd>' : '') + '</dl>';
  }

  function firstChunk(s) {
    for (const [k, v] of Object.entries(s.attributes || {})) {
      if (/first_(chunk|token)|ttft/i.test(k) && typeof v === 'number') return /_s$/.test(k) ? v * 1000 : v;
    }
    for (const ev of s.events || []) {
      if (/first[_ .-]?(chunk|token)/i.test(ev.name)) return Date.parse(ev.time) - Date.parse(s.start_time);
    }
    return null;
  }

  function spanDetail(s, tr, all) {
    const b = (x, cls) => x ? '<span class="badge ' + (cls || '') + '">' + esc(x) + '</span>' : '';
    let h = '<h2>' + esc(s.name) + '</h2><div>' + b(s.type, 't-' + typeClass(s.type)) + statusBadge(s.status) + b(s.kind) +
      b(s.model) + b(s.provider) + b(s.prompt_slug ? s.prompt_slug + (s.prompt_version ? '@' + s.prompt_version : '') : '') + '</div>';
    const exc = (s.events || []).filter((e) => e.name === 'exception');
    if (s.status === 'error' || exc.length) {
      h += '<h3 class="st-error">Error</h3><div class="error">' + esc(s.status_message || 'failed') +
        exc.map((e) => '<div><b>' + esc((e.attributes || {})['exception.type']) + '</b> ' + esc((e.attributes || {})['exception.message']) +
          ((e.attributes || {})['exception.stacktrace'] ? '<details><summary>stack</summary><pre>' + esc(e.attributes['exception.stacktrace']) + '</pre></details>' : '') + '</div>').join('') + '</div>';
    }
    const ttfc = firstChunk(s);
    h += '<h3>Timing</h3><dl class="kv"><dt>start</dt><dd>' + esc(fmtTime(s.start_time, true)) + '</dd><dt>latency</dt><dd id="d-latency">' +
      fmtDur(s.latency_ms) + '</dd><dt>first chunk</dt><dd>' + (ttfc == null ? '—' : fmtDur(ttfc)) + '</dd></dl>';
    if (s.total_tokens || s.input_tokens || s.output_tokens || s.cost_nano_usd || s.type === 'llm') h += '<h3>Tokens and cost</h3>' + tokenHTML(s);
    const msgs = messages(s, all);
    if (msgs.length) h += '<h3>Conversation</h3>' + msgs.map(messageHTML).join('');
    const io = [['Input', attrOf(s, 'agenttrace.input')], ['Output', attrOf(s, 'agenttrace.output')],
      ['Tool arguments', attrOf(s, 'gen_ai.tool.call.arguments')], ['Tool result', attrOf(s, 'gen_ai.tool.call.result')]];
    for (const [label, v] of io) if (v !== undefined) h += '<h3>' + label + '</h3>' + jsonBlock(v);
    const fb = (s.events || []).filter((e) => e.name === 'agenttrace.feedback' || e.name === 'agenttrace.signal');
    if (fb.length) {
      h += '<h3>Feedback and signals</h3>' + fb.map((e) => {
        const a = e.attributes || {};
        return '<div class="ev"><span class="badge">' + (e.name === 'agenttrace.feedback' ? 'feedback' : 'signal') + '</span><b>' + esc(a.name) + '</b> ' +
          (a.value != null ? esc(a.value) : '') + ' <span class="muted">' + esc(a.comment || '') + '</span> <span class="muted">' + esc(fmtTime(e.time)) + '</span></div>';
      }).join('');
    }
    const other = (s.events || []).filter((e) => !/^agenttrace\.(feedback|signal|message)$/.test(e.name) && e.name !== 'exception');
    if (other.length) h += '<h3>Events</h3>' + other.map((e) => '<div class="ev"><b>' + esc(e.name) + '</b> <span class="muted">' + esc(fmtTime(e.time, true)) + '</span>' + jsonBlock(e.attributes || {}) + '</div>').join('');
    const kv = (o) => '<dl class="kv">' + Object.keys(o || {}).sort().map((k) => '<dt>' + esc(k) + '</dt><dd>' +
      (typeof o[k] === 'object' && o[k] !== null ? jsonHTML(o[k], 2) : esc(typeof o[k] === 'string' && o[k].length > 300 ? o[k].slice(0, 300) + '…' : o[k])) + '</dd>').join('') + '</dl>';
    h += '<h3>Attributes</h3>' + kv(s.attributes) + '<h3>Resource</h3>' + kv(s.resource_attributes);
    h += '<h3>Ids</h3>' + kv({ span: s.id, parent: s.parent_id, trace: s.trace_id, session: s.session_id, user: s.user_id, tenant: s.tenant_id, service: s.service_name });
    return h;
  }

  // ---- session -------------------------------------------------------------

  // turnHTML is one trace of a session read as a turn of the conversation:
  // its messages when it recorded any, else its input and output previews.
  function turnHTML(t, msgSpans) {
    const conv = msgSpans && msgSpans.length ? messages({}, msgSpans) : [];
    if (conv.length) return conv.map(messageHTML).join('');
    return (t.input ? messageHTML({ role: 'user', content: previewText(t.input) }) : '') +
      (t.output ? messageHTML({ role: 'assistant', content: previewText(t.output) }) : '');
  }

  async function sessionPage() {
    const w = win('30d');
    const q = Object.assign({ session_id: pageID, start_time: w.start_time, end_time: w.end_time, sort_field: 'start_time', sort_order: 'asc', limit: 1000 }, tenantQ());
    let mixed = '';
    const [u, traces, msgs] = await Promise.all([
      api('/v1/usage/sessions/' + enc(pageID), Object.assign({ start_time: w.start_time, end_time: w.end_time }, tenantQ())).catch((e) => {
        // A session id used by several tenants: its usage is per tenant.
        if (e.status !== 400 || e.param !== 'tenant_id') throw e;
        mixed = e.message;
        return {};
      }),
      (async () => {
        const out = [];
        let cursor = '';
        for (let i = 0; i < 20; i++) {
          const pg = await api('/v1/traces', Object.assign({}, q, { cursor }));
          out.push(...pg.traces);
          if (!pg.has_next_page || !pg.next_cursor) break;
          cursor = pg.next_cursor;
        }
        return out;
      })(),
      // The conversation: the session's message spans (newest first).
      api('/v1/spans', Object.assign({ session_id: pageID, type: 'message', start_time: w.start_time, end_time: w.end_time, limit: 1000 }, tenantQ())),
    ]);
    const byTrace = {};
    for (const s of msgs.spans || []) (byTrace[s.trace_id] = byTrace[s.trace_id] || []).push(s);
    document.title = 'Session ' + pageID + ' · agenttrace';
    const tenants = [...new Set(traces.map((t) => t.tenant_id))];
    let h = (mixed ? '<p class="notice" id="mixed">' + esc(mixed) + '. ' + tenants.map((tn) => '<a href="/sessions/' + enc(pageID) + '?tenant_id=' + enc(tn) +
      '">' + esc(tn || '(no tenant)') + '</a>').join(' · ') + '</p>' : '') + '<div class="thead"><h1>Session ' + esc(pageID) + '</h1><a href="/?session_id=' + enc(pageID) + '">traces list</a> <a href="/usage?session_id=' +
      enc(pageID) + '">usage</a></div>' + cards([['traces', fmtInt(traces.length), 's-traces'], ['tokens', fmtInt(u.token_count), 's-tokens'],
      ['LLM calls', fmtInt(u.request_count), 's-requests'], ['cost', fmtUSD(u.total_cost_nano_usd), 's-cost'],
      ['input', fmtInt(u.input_tokens)], ['output', fmtInt(u.output_tokens)]]);
    if (!traces.length) {
      content.innerHTML = h + '<div class="empty"><p>No traces of this session started between ' + esc(fmtTime(w.start_time)) + ' and ' + esc(fmtTime(w.end_time)) + '.</p></div>';
      return;
    }
    let prevEnd = 0;
    for (const t of traces) {
      const start = Date.parse(t.start_time);
      if (prevEnd && start - prevEnd >= 5 * 60e3) h += '<div class="gap">' + fmtDur(start - prevEnd) + ' later</div>';
      prevEnd = Math.max(prevEnd, Date.parse(t.end_time));
      h += '<div class="turn"><div class="meta">' + esc(fmtTime(t.start_time)) + ' · <a href="/traces/' + esc(t.id) + (t.tenant_id ? '?tenant_id=' + enc(t.tenant_id) : '') + '">' + esc(t.name || 'trace') + '</a> ' +
        statusBadge(t.status) + fmtInt(t.total_tokens) + ' tokens · ' + fmtUSD(t.total_cost_nano_usd) + ' · ' + fmtDur(t.duration_ms) +
        (t.user_id ? ' · ' + esc(t.user_id) : '') + '</div>' +
        turnHTML(t, byTrace[t.id]) + '</div>';
    }
    content.innerHTML = h;
  }
  function previewText(s) {
    const v = maybeJSON(s);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const k of ['question', 'answer', 'text', 'content', 'message', 'input', 'output']) if (typeof v[k] === 'string') return v[k];
    }
    return s;
  }
  function cards(list) {
    return '<div class="cards">' + list.map((c) => '<div class="card"><div class="l">' + esc(c[0]) + '</div><div class="v"' +
      (c[2] ? ' id="' + c[2] + '"' : '') + '>' + c[1] + '</div></div>').join('') + '</div>';
  }

  // ---- usage ---------------------------------------------------------------

  function barChart(title, buckets, value, fmt) {
    const max = Math.max(...buckets.map(value), 0) || 1;
    const n = buckets.length || 1;
    const W = 600;
    const H = 150;
    const bw = W / n;
    const bars = buckets.map((b, i) => {
      const v = value(b);
      const h = (v / max) * (H - 30);
      return '<rect class="bar" x="' + (i * bw + bw * 0.1).toFixed(2) + '" y="' + (H - 16 - h).toFixed(2) + '" width="' + Math.max(bw * 0.8, 1).toFixed(2) +
        '" height="' + h.toFixed(2) + '"><title>' + esc(b.label + ': ' + fmt(v)) + '</title></rect>';
    }).join('');
    const every = Math.ceil(n / 6);
    const labels = buckets.map((b, i) => i % every ? '' : '<text x="' + (i * bw + bw / 2).toFixed(2) + '" y="' + (H - 3) + '" text-anchor="middle">' + esc(b.short) + '</text>').join('');
    return '<div class="chart"><h3>' + esc(title) + ' <span class="muted">max ' + fmt(max) + '</span></h3><svg viewBox="0 0 ' + W + ' ' + H +
      '" role="img" aria-label="' + esc(title) + '"><line x1="0" x2="' + W + '" y1="' + (H - 16) + '" y2="' + (H - 16) + '"></line>' +
      bars + labels + '</svg></div>';
  }

  function groupTable(title, id, groups, keyHTML, total) {
    if (!groups.length) return '<div><h3>' + esc(title) + '</h3><p class="muted">Nothing in this window.</p></div>';
    const max = Math.max(...groups.map((g) => g.total_cost_nano_usd), 1);
    return '<div><h3>' + esc(title) + '</h3><table class="list" id="' + id + '"><thead><tr><th>' + esc(title.split(' ').pop()) + '</th><th class="num">Calls</th>' +
      '<th class="num">Tokens</th><th class="num">Cost</th><th></th></tr></thead><tbody>' + groups.map((g) => '<tr data-key="' + esc(g.key) + '"><td>' +
      (g.other ? '<i>the rest</i>' : g.key ? keyHTML(g.key) : '<span class="muted">(none)</span>') + '</td><td class="num">' + fmtInt(g.request_count) +
      '</td><td class="num">' + fmtInt(g.token_count) + '</td><td class="num">' + fmtUSD(g.total_cost_nano_usd) + '</td><td><span class="share" style="width:' +
      (g.total_cost_nano_usd / max * 80).toFixed(1) + 'px"></span> <span class="muted">' + (total ? (g.total_cost_nano_usd / total * 100).toFixed(1) + '%' : '') +
      '</span></td></tr>').join('') + '</tbody></table></div>';
  }

  async function usagePage() {
    const w = win('7d');
    let tenant = (params.get('tenant_id') || '').trim();
    const session = (params.get('session_id') || '').trim();
    let note = '';
    if (!tenant && !session) {
      const pg = await api('/v1/traces', { start_time: w.start_time, end_time: w.end_time, limit: 1 });
      const t = pg.traces.find((x) => x.tenant_id);
      if (!t) {
        content.innerHTML = '<div class="empty"><h1>No usage</h1><p>No trace with a tenant started in this window. Enter a tenant or a session id above.</p></div>';
        return;
      }
      tenant = t.tenant_id;
      note = ' <span class="muted">(the tenant of the latest trace)</span>';
    }
    const span = Date.parse(w.end_time) - Date.parse(w.start_time);
    const bucket = params.get('bucket') || (span <= 48 * 36e5 ? 'hour' : 'day');
    const path = session && !tenant ? '/v1/usage/sessions/' + enc(session) : '/v1/usage/tenants/' + enc(tenant);
    const base = { start_time: w.start_time, end_time: w.end_time };
    const get = (g, limit) => api(path, Object.assign({ group_by: g, limit }, base));
    const [byTime, byModel, byUser, bySession] = await Promise.all([get(bucket), get('model', 50), get('user', 50),
      session && !tenant ? Promise.resolve(null) : get('session', 10)]);
    const u = byTime;
    // Every bucket of the window, empty ones too.
    const step = bucket === 'day' ? 864e5 : 36e5;
    const have = new Map(byTime.groups.filter((g) => !g.other).map((g) => [Date.parse(g.key), g]));
    const buckets = [];
    for (let t = Math.floor(Date.parse(w.start_time) / step) * step; t < Date.parse(w.end_time) && buckets.length < 2000; t += step) {
      const g = have.get(t) || { token_count: 0, request_count: 0, total_cost_nano_usd: 0 };
      const d = new Date(t);
      buckets.push(Object.assign({ label: fmtTime(d.toISOString()).slice(0, bucket === 'day' ? 10 : 16), short: bucket === 'day' ? pad(d.getMonth() + 1) + '-' + pad(d.getDate()) : pad(d.getHours()) + ':00' }, g));
    }
    const subject = session && !tenant ? 'Session <a href="/sessions/' + enc(session) + '">' + esc(session) + '</a>' : 'Tenant <a href="/?tenant_id=' + enc(tenant) + '">' + esc(tenant) + '</a>' + note;
    let h = '<div class="thead"><h1>Usage</h1><span class="stat">' + subject + '</span><span class="stat">' + esc(fmtTime(w.start_time)) + ' to ' + esc(fmtTime(w.end_time)) + ', per ' + bucket + '</span></div>';
    h += cards([['cost', fmtUSD(u.total_cost_nano_usd), 'u-cost'], ['tokens', fmtInt(u.token_count), 'u-tokens'], ['LLM calls', fmtInt(u.request_count), 'u-requests']]
      .concat(u.session_count != null ? [['sessions', fmtInt(u.session_count), 'u-sessions']] : [])
      .concat([['input', fmtInt(u.input_tokens)], ['cache read', fmtInt(u.cache_read_tokens)], ['output', fmtInt(u.output_tokens)], ['reasoning', fmtInt(u.reasoning_tokens)]]));
    h += '<div class="charts">' + barChart('Cost per ' + bucket, buckets, (b) => b.total_cost_nano_usd, fmtUSD) +
      barChart('Tokens per ' + bucket, buckets, (b) => b.token_count, fmtInt) + barChart('LLM calls per ' + bucket, buckets, (b) => b.request_count, fmtInt) + '</div>';
    h += '<div class="grid2">' + groupTable('By model', 'by-model', byModel.groups, (k) => '<a href="/spans?model=' + enc(k) + '">' + esc(k) + '</a>', u.total_cost_nano_usd) +
      groupTable('By user', 'by-user', byUser.groups, (k) => '<a href="/?user_id=' + enc(k) + '">' + esc(k) + '</a>', u.total_cost_nano_usd) +
      (bySession ? groupTable('Most expensive sessions', 'by-session', bySession.groups, (k) => '<a href="/sessions/' + enc(k) + '">' + esc(k) + '</a>', u.total_cost_nano_usd) : '') + '</div>';
    content.innerHTML = h;
  }

  // ---- start -------------------------------------------------------------

  const run = { traces: tracesPage, spans: spansPage, trace: tracePage, session: sessionPage, usage: usagePage }[page];
  authArea();
  const form = $('#filters');
  if (form) {
    // Exact times only with "exact times"; empty fields stay out of the URL.
    form.addEventListener('submit', () => {
      const custom = form.window && form.window.value === 'custom';
      for (const el of Array.from(form.elements)) {
        if (!el.name) continue;
        if (!custom && (el.name === 'start_time' || el.name === 'end_time')) el.value = '';
        if (el.value === '') el.disabled = true;
      }
    });
    for (const n of ['start_time', 'end_time']) {
      const el = form.elements[n];
      if (el) el.addEventListener('input', () => { if (form.window) form.window.value = 'custom'; });
    }
  }
  if (run) {
    run().then(() => { body.dataset.ready = 'true'; }, (e) => { showError(e); body.dataset.ready = 'error'; });
  } else {
    body.dataset.ready = 'true';
  }
})();
