// davd's directory page: sorting, uploads with a progress bar, drag and drop, and the WebDAV
// actions (MKCOL, MOVE, DELETE, and COPY or MOVE to restore from the history) with a readable
// message when the server refuses one. The details panel is details.js, served after this
// file in the same script; it uses the helpers this one returns as `davd`.
//
// Safety rule: names come from the DOM (dataset, textContent) and go back only through
// textContent, input.value or encodeURIComponent, never as markup. What the server answers
// is read with DOMParser as XML and shown the same way.
'use strict';
const davd = (function () {
  document.documentElement.classList.add('js');
  const $ = (id) => document.getElementById(id);
  // The collection's percent-encoded path, ending in '/'.
  const collection = document.body.dataset.collection || '/';
  const table = $('listing');
  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

  // ---- messages -------------------------------------------------------------------------

  const message = $('message');
  const messageText = $('message-text');
  let messageTimer = 0;

  function say(kind, text) {
    message.className = 'message ' + kind;
    message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    messageText.textContent = text;
    message.hidden = false;
    clearTimeout(messageTimer);
    // Successes fade on their own; a failure stays until it is read and dismissed.
    if (kind === 'ok') messageTimer = setTimeout(() => { message.hidden = true; }, 8000);
  }
  // Called when a new action starts, so an earlier answer is never read as this one's.
  function quiet() {
    clearTimeout(messageTimer);
    message.hidden = true;
  }
  $('message-close').addEventListener('click', quiet);

  const STATUS = {
    200: 'OK', 201: 'Created', 204: 'No Content', 207: 'Multi-Status',
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
    405: 'Method Not Allowed', 409: 'Conflict', 412: 'Precondition Failed',
    413: 'Content Too Large', 415: 'Unsupported Media Type', 423: 'Locked',
    424: 'Failed Dependency', 500: 'Internal Server Error', 502: 'Bad Gateway',
    503: 'Service Unavailable', 507: 'Insufficient Storage',
  };
  const REASONS = {
    400: 'the server could not accept that request',
    401: 'you need to sign in first',
    403: 'the server does not allow it',
    404: 'it is not there any more (reload the page)',
    405: 'the server does not allow that here',
    409: 'it conflicts with what is in the folder now',
    412: 'a condition of the request was not met',
    413: 'it is too large for the server',
    415: 'the server does not accept that kind of content',
    423: 'it is locked, probably because someone is editing it',
    424: 'an operation it depended on failed',
    500: 'the server failed',
    502: 'the destination is on another server',
    503: 'the server is busy, try again later',
    507: 'the server is out of space',
  };

  function reason(status, overrides) {
    return (overrides && overrides[status]) || REASONS[status] || 'the server refused it';
  }

  function code(status) {
    return STATUS[status] ? status + ' ' + STATUS[status] : String(status);
  }

  function explain(what, status, overrides, detail) {
    let text = 'Could not ' + what + ': ' + reason(status, overrides) + ' (' + code(status) + ').';
    // The server's own words help where the page has only a generic reason to give.
    if (detail && !(overrides && overrides[status])) text += ' ' + said(detail);
    return text;
  }

  function said(words) {
    return 'The server said: ' + words + (/[.!?]$/.test(words) ? '' : '.');
  }

  function quoted(name) {
    return '\u201c' + name + '\u201d';
  }

  // ---- reading WebDAV answers -----------------------------------------------------------

  const DAV = 'DAV:';

  // An XML answer as a document, or null if it is not well-formed.
  function xml(text) {
    const doc = new DOMParser().parseFromString(text || '', 'application/xml');
    return doc.getElementsByTagName('parsererror').length ? null : doc;
  }

  // The child element DAV:`name` of `parent` (only a child: an owner may hold hrefs of its own).
  function davChild(parent, name) {
    if (!parent) return null;
    for (const child of parent.children) {
      if (child.namespaceURI === DAV && child.localName === name) return child;
    }
    return null;
  }

  function textOf(element) {
    return element ? element.textContent.trim() : '';
  }

  // The number in a status line such as "HTTP/1.1 424 Failed Dependency".
  function statusNumber(element) {
    return Number(textOf(element).split(' ')[1]) || 0;
  }

  // An href as a path to show: "/e2e/my%20notes.md" -> "/e2e/my notes.md".
  function hrefPath(href) {
    let path = href;
    try { path = new URL(href, location.href).pathname; } catch (e) { /* shown as sent */ }
    try { return decodeURIComponent(path); } catch (e) { return path; }
  }

  // The locks of a DAV:lockdiscovery element: who holds each (the owner its client sent),
  // scope, depth, the seconds left, the token and where it was taken.
  function readLocks(discovery) {
    const locks = [];
    if (!discovery) return locks;
    for (const lock of discovery.children) {
      if (lock.namespaceURI !== DAV || lock.localName !== 'activelock') continue;
      const scope = davChild(lock, 'lockscope');
      locks.push({
        scope: scope && scope.firstElementChild ? scope.firstElementChild.localName : 'exclusive',
        depth: textOf(davChild(lock, 'depth')) || '0',
        owner: textOf(davChild(lock, 'owner')),
        seconds: timeoutSeconds(textOf(davChild(lock, 'timeout'))),
        token: textOf(davChild(davChild(lock, 'locktoken'), 'href')),
        root: textOf(davChild(davChild(lock, 'lockroot'), 'href')),
      });
    }
    return locks;
  }

  // "Second-3600" is the time left; "Infinite" (null here) never runs out.
  function timeoutSeconds(value) {
    const match = /^Second-(\d+)$/i.exec(value);
    return match ? Number(match[1]) : null;
  }

  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

  // "until 6 Dec 2026, 14:32 (in 59 minutes)", from the seconds a lock has left.
  function until(seconds) {
    if (seconds === null) return 'with no time limit';
    const end = timeFormat.format(new Date(Date.now() + seconds * 1000));
    const minutes = Math.round(seconds / 60);
    const left = seconds < 90 ? relative.format(seconds, 'second')
      : minutes < 120 ? relative.format(minutes, 'minute')
        : relative.format(Math.round(seconds / 3600), 'hour');
    return 'until ' + end + ' (' + left + ')';
  }

  // 'locked by "browser" (exclusive, depth 0) until ...'.
  function lockSentence(lock) {
    const who = lock.owner ? 'by ' + quoted(lock.owner) : 'by someone who gave no name';
    return 'locked ' + who + ' (' + lock.scope + ', depth ' + lock.depth + ') ' + until(lock.seconds);
  }

  const LOCKDISCOVERY = '<?xml version="1.0" encoding="utf-8"?>\n' +
    '<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>';

  // The locks on `href` from its lockdiscovery; [] if it is not there (404), null if that
  // cannot be found out.
  async function lockdiscovery(href) {
    let response;
    try {
      response = await fetch(href, {
        method: 'PROPFIND',
        headers: { Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' },
        body: LOCKDISCOVERY,
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (e) {
      return null;
    }
    if (response.status === 404) return [];
    if (response.status !== 207) return null;
    const doc = xml(await response.text());
    return readLocks(doc && doc.getElementsByTagNameNS(DAV, 'lockdiscovery')[0]);
  }

  // Who holds the lock on `href`, as a sentence, or '' if that cannot be found out.
  async function lockHolder(href) {
    const locks = await lockdiscovery(href);
    return locks && locks.length ? quoted(hrefPath(href)) + ' is ' + lockSentence(locks[0]) + '.' : '';
  }

  // ---- the lock tokens this page holds ------------------------------------------------
  //
  // RFC 4918 §7: a write to a locked resource must carry the lock's token; that is how the
  // lock's owner proves it is the owner. The page keeps the token of each lock it took (the
  // details panel's Lock) in sessionStorage, by the item's decoded path: a reload of the tab
  // keeps them, another tab, browser or user has none. Each entry is { href, token }, the
  // href percent-encoded as the If header names it.
  const HELD = 'davd-lock-tokens';

  function heldLocks() {
    try { return JSON.parse(sessionStorage.getItem(HELD) || '{}') || {}; } catch (e) { return {}; }
  }

  function keepLocks(held) {
    try { sessionStorage.setItem(HELD, JSON.stringify(held)); } catch (e) { /* storage may be disabled */ }
  }

  // "/props/a%20b.txt", "http://host/props/" -> "/props/a b.txt", "/props".
  function lockKey(href) {
    const path = hrefPath(href);
    return path.length > 1 ? path.replace(/\/$/, '') : path;
  }

  // True if the item at key `x` is in the folder at key `y`, at any depth.
  const inside = (x, y) => x !== y && x.startsWith(y === '/' ? '/' : y + '/');

  // True if `a` is `b`, or one is inside the other: a folder's lock (the page takes them with
  // depth infinity) covers what is in it, and a folder deleted or moved takes the locks in it.
  const related = (a, b) => a === b || inside(a, b) || inside(b, a);

  function rememberToken(href, token) {
    if (!token) return;
    const held = heldLocks();
    held[lockKey(href)] = { href: new URL(href, location.href).pathname, token };
    keepLocks(held);
  }

  // Forgets the tokens for which `gone(key, entry)` is true.
  function forgetWhere(gone) {
    const held = heldLocks();
    for (const [key, entry] of Object.entries(held)) if (gone(key, entry)) delete held[key];
    keepLocks(held);
  }

  const forgetToken = (token) => forgetWhere((key, entry) => entry.token === token);

  // The item at `href` is gone (deleted, moved away), and with it the locks on it and in it.
  function forgetItem(href) {
    const gone = lockKey(href);
    forgetWhere((key) => key === gone || inside(key, gone));
  }

  // The token this page holds for the lock taken on `href`, or ''.
  function heldToken(href) {
    const entry = heldLocks()[lockKey(href)];
    return entry ? entry.token : '';
  }

  // The held locks that bear on `hrefs`: on one of them, a folder above, or something inside.
  function heldFor(hrefs) {
    const keys = hrefs.map(lockKey);
    return Object.entries(heldLocks()).filter(([key]) => keys.some((k) => related(k, key))).map(([, entry]) => entry);
  }

  // The If header for a request that changes `hrefs` (RFC 4918 §10.4): one tagged list per
  // held lock that bears on them, `</props/paper.txt> (<urn:uuid:...>)`, or '' for none. A
  // MOVE names its source and destination, an upload its files.
  function ifHeader(hrefs) {
    return heldFor(hrefs).map((entry) => '<' + entry.href + '> (<' + entry.token + '>)').join(' ');
  }

  // `headers` with the If header for `hrefs`, when the page holds a token that bears on them.
  function withTokens(headers, hrefs) {
    const condition = ifHeader(hrefs);
    return condition ? Object.assign({}, headers, { If: condition }) : Object.assign({}, headers);
  }

  // After a write that carried an If header: a 412 may mean that a lock is gone (run out,
  // released elsewhere). The tokens lockdiscovery no longer lists are forgotten; true if any.
  async function checkTokens(status, headers, hrefs) {
    if (status !== 412 || !headers.If) return false;
    let forgot = false;
    for (const entry of heldFor(hrefs)) {
      const locks = await lockdiscovery(entry.href);
      if (locks && !locks.some((lock) => lock.token === entry.token)) {
        forgetToken(entry.token);
        forgot = true;
      }
    }
    return forgot;
  }

  // The held locks on `href` or above it that its lockdiscovery (`tokens`) no longer lists are
  // gone: forgotten.
  function syncTokens(href, tokens) {
    const key = lockKey(href);
    forgetWhere((held, entry) => (held === key || inside(key, held)) && !tokens.includes(entry.token));
  }

  const LOCK_GONE = 'the lock this page held on it is gone (it ran out or was released), so try again';
  // The answers to which checkTokens() found a lock gone, for failure() to say so.
  const staleAnswers = new WeakSet();

  async function settleTokens(response, headers, hrefs) {
    if (await checkTokens(response.status, headers, hrefs)) staleAnswers.add(response);
  }

  // The last segment of an href, decoded: how a multistatus names a member.
  function hrefName(href) {
    const segments = href.split('/').filter(Boolean);
    const last = segments.length ? segments[segments.length - 1] : href;
    try { return decodeURIComponent(last); } catch (e) { return last; }
  }

  // A short plain-text reason from the server, if it sent one.
  function plainDetail(type, text) {
    if (!type || !type.startsWith('text/plain')) return '';
    const trimmed = (text || '').trim();
    return trimmed.length > 0 && trimmed.length <= 300 ? trimmed : '';
  }

  // The server's own words about a refusal: a short plain-text body, or else the reason davd
  // also sends in X-MSDAVEXT_Error for Microsoft clients; and the name of the RFC 4918
  // precondition an XML error body carries (`lock-token-submitted`, ...).
  function serverWords(response, body) {
    const type = response.headers.get('content-type');
    let words = plainDetail(type, body) || msReason(response.headers.get('x-msdavext_error'));
    const names = errorConditions(type, body).map((c) => c.name);
    if (names.length) words = (words ? words + ' ' : '') + '(' + names.join(', ') + ')';
    return words;
  }

  // "589838; the%20resource%20is%20locked..." -> "the resource is locked...".
  function msReason(header) {
    const at = (header || '').indexOf(';');
    if (at < 0) return '';
    try { return decodeURIComponent(header.slice(at + 1).trim()); } catch (e) { return ''; }
  }

  // The conditions of a `<D:error>` body, each with the hrefs it names.
  function errorConditions(type, body) {
    if (!type || !/xml/.test(type)) return [];
    const doc = xml(body);
    const root = doc && doc.documentElement;
    if (!root || root.namespaceURI !== DAV || root.localName !== 'error') return [];
    return Array.from(root.children).map((c) => ({
      name: c.localName,
      hrefs: Array.from(c.getElementsByTagNameNS(DAV, 'href')).map((h) => h.textContent.trim()),
    }));
  }

  // A refusal in words: what could not be done, why, and what the server said.
  async function failure(what, response, overrides) {
    let body = '';
    try { body = await response.text(); } catch (e) { body = ''; }
    if (response.status === 207) return partly(what, body);
    const status = response.status;
    if (status === 412 && staleAnswers.has(response)) overrides = Object.assign({}, overrides, { 412: LOCK_GONE });
    let text = explain(what, status, overrides);
    // A 423 names the locked resource; its lockdiscovery says who holds the lock.
    if (status === 423) {
      const locked = errorConditions(response.headers.get('content-type'), body).flatMap((c) => c.hrefs)[0];
      const holder = locked ? await lockHolder(locked) : '';
      if (holder) text += ' ' + holder;
    }
    const words = serverWords(response, body);
    if (words && !(overrides && overrides[status])) text += ' ' + said(words);
    return text;
  }

  // A 207 to a request on a folder: which members failed, and why.
  function partly(what, body) {
    const doc = new DOMParser().parseFromString(body, 'application/xml');
    const failed = [];
    for (const item of doc.getElementsByTagNameNS(DAV, 'response')) {
      const href = item.getElementsByTagNameNS(DAV, 'href')[0];
      const number = statusNumber(item.getElementsByTagNameNS(DAV, 'status')[0]);
      if (number >= 300) {
        failed.push(quoted(hrefName((href && href.textContent) || '')) + ' ' + reason(number) + ' (' + code(number) + ')');
      }
    }
    return 'Could not ' + what + ' completely: ' + (failed.join('; ') || 'some items failed') + '.';
  }

  function badName(name) {
    if (!name) return 'Type a name first.';
    if (name === '.' || name === '..') return 'The names . and .. are reserved.';
    if (/[\/\u0000]/.test(name)) return 'A name cannot contain /.';
    return '';
  }

  // ---- sorting and display ------------------------------------------------------------

  let sortKey = 'name';
  let sortDir = 1;
  try {
    const saved = JSON.parse(localStorage.getItem('davd-sort') || 'null');
    if (saved && ['name', 'size', 'modified', 'type'].includes(saved.key)) {
      sortKey = saved.key;
      sortDir = saved.dir === -1 ? -1 : 1;
    }
  } catch (e) { /* storage may be disabled */ }

  function sortValue(row, key) {
    if (key === 'size' || key === 'modified') return Number(row.dataset[key]) || 0;
    return row.dataset[key] || '';
  }

  function compare(a, b) {
    const folderA = a.dataset.kind === 'folder';
    const folderB = b.dataset.kind === 'folder';
    if (folderA !== folderB) return folderA ? -1 : 1;
    const x = sortValue(a, sortKey);
    const y = sortValue(b, sortKey);
    let order = typeof x === 'number' ? x - y : collator.compare(x, y);
    if (order === 0) order = collator.compare(a.dataset.name || '', b.dataset.name || '');
    return order * sortDir;
  }

  function applySort() {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort(compare);
    body.append(...rows);
    for (const th of table.tHead.rows[0].cells) {
      if (!th.dataset.key) continue;
      if (th.dataset.key === sortKey) th.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
  }

  table.tHead.addEventListener('click', (event) => {
    const th = event.target.closest('th[data-key]');
    if (!th) return;
    if (th.dataset.key === sortKey) {
      sortDir = -sortDir;
    } else {
      sortKey = th.dataset.key;
      // Biggest and newest first is what one looks for when sorting by size or date.
      sortDir = sortKey === 'size' || sortKey === 'modified' ? -1 : 1;
    }
    try { localStorage.setItem('davd-sort', JSON.stringify({ key: sortKey, dir: sortDir })); } catch (e) { /* ignore */ }
    applySort();
  });

  const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  function localiseTimes(scope) {
    for (const time of scope.querySelectorAll('time[datetime]')) {
      const date = new Date(time.dateTime);
      if (Number.isNaN(date.getTime())) continue;
      time.title = time.textContent;
      time.textContent = timeFormat.format(date);
    }
  }

  function humanSize(bytes) {
    if (bytes < 1000) return bytes === 1 ? '1 byte' : bytes + ' bytes';
    const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
    let value = bytes / 1000;
    let unit = 0;
    while (value >= 999.5 && unit < units.length - 1) { value /= 1000; unit++; }
    return (value < 9.95 ? value.toFixed(1) : value.toFixed(0)) + ' ' + units[unit];
  }

  // Reloads the listing in place, so messages and scroll position survive.
  async function refresh(highlight) {
    let response;
    try {
      response = await fetch(collection, { headers: { Accept: 'text/html' }, cache: 'no-store', credentials: 'same-origin' });
    } catch (e) {
      return;
    }
    if (!response.ok) return;
    // Only <main>: the fresh page's style and script carry another nonce, and parsing them
    // here would be reported as a policy violation. Names are escaped, so no name can
    // contain either tag.
    const html = await response.text();
    // `<main` with or without attributes (a history page carries how it restores).
    const start = html.indexOf('<main');
    const end = html.indexOf('</main>');
    if (start < 0 || end < start) return;
    const doc = new DOMParser().parseFromString(html.slice(start, end + 7), 'text/html');
    const fresh = doc.querySelector('#listing tbody');
    if (!fresh) return;
    const body = document.adoptNode(fresh);
    table.tBodies[0].replaceWith(body);
    for (const id of ['summary', 'empty']) {
      const theirs = doc.getElementById(id);
      const ours = $(id);
      if (theirs && ours) ours.replaceWith(document.adoptNode(theirs));
    }
    localiseTimes(body);
    applySort();
    if (highlight) {
      for (const row of body.rows) {
        if (highlight.has(row.dataset.name)) row.classList.add('fresh');
      }
    }
  }

  // ---- upload -------------------------------------------------------------------------

  const form = $('upload');
  const input = $('files');
  const progress = $('progress');
  const bar = $('progress-bar');
  const progressText = $('progress-text');
  let uploading = false;
  let progressTimer = 0;

  function setProgress(percent, text) {
    bar.value = percent;
    progressText.textContent = text;
  }

  function uploadFinished() {
    uploading = false;
    form.classList.remove('busy');
    input.value = '';
    clearTimeout(progressTimer);
    progressTimer = setTimeout(() => { progress.hidden = true; }, 2500);
  }

  function upload(list) {
    const files = Array.from(list || []);
    if (files.length === 0) return;
    if (uploading) {
      say('error', 'Wait until the current upload has finished.');
      return;
    }
    uploading = true;
    quiet();
    clearTimeout(progressTimer);
    const label = files.length === 1 ? quoted(files[0].name) : files.length + ' files';
    const data = new FormData();
    for (const file of files) data.append('files', file, file.name);
    // Each file is written (a folder's lock held by the page covers them, and the folder).
    const touched = files.map((file) => collection + encodeURIComponent(file.name));
    const headers = withTokens({ Accept: 'application/json' }, touched);
    form.classList.add('busy');
    progress.hidden = false;
    setProgress(0, 'Uploading ' + label + '\u2026');

    const xhr = new XMLHttpRequest();
    xhr.open('POST', collection);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (event) => {
      if (!event.lengthComputable || event.total === 0) return;
      const percent = Math.min(100, Math.round((event.loaded / event.total) * 100));
      setProgress(percent, 'Uploading ' + label + '\u2026 ' + percent + '% (' +
        humanSize(event.loaded) + ' of ' + humanSize(event.total) + ')');
    });
    xhr.addEventListener('load', async () => {
      const stale = await checkTokens(xhr.status, headers, touched);
      uploaded(xhr, label, stale);
    });
    xhr.addEventListener('error', () => {
      setProgress(0, 'Upload failed');
      uploadFinished();
      say('error', 'Could not upload ' + label + ': the connection to the server was lost.');
    });
    xhr.send(data);
  }

  function uploaded(xhr, label, stale) {
    let results = null;
    try { results = JSON.parse(xhr.responseText).files; } catch (e) { results = null; }
    uploadFinished();
    if (!Array.isArray(results)) {
      setProgress(0, 'Upload failed');
      const detail = plainDetail(xhr.getResponseHeader('content-type'), xhr.responseText);
      say('error', explain('upload ' + label, xhr.status, stale ? { 412: LOCK_GONE } : null, detail));
      return;
    }
    const good = results.filter((r) => r.status >= 200 && r.status < 300);
    const bad = results.filter((r) => !(r.status >= 200 && r.status < 300));
    setProgress(100, good.length + ' of ' + results.length + (results.length === 1 ? ' file' : ' files') + ' uploaded');
    if (bad.length === 0) {
      say('ok', good.length === 1 ? 'Uploaded ' + quoted(good[0].name) + '.' : 'Uploaded ' + good.length + ' files.');
    } else {
      const parts = bad.map((r) => explain('upload ' + quoted(r.name), r.status));
      if (good.length) parts.unshift('Uploaded ' + good.length + ' of ' + results.length + ' files.');
      say('error', parts.join(' '));
    }
    refresh(new Set(good.map((r) => r.name)));
  }

  // A history view takes no uploads: it has no form, and nothing may be dropped on it.
  if (form) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      upload(input.files);
    });
    input.addEventListener('change', () => upload(input.files));

    // Drag and drop onto any part of the page.
    let dragDepth = 0;
    const carriesFiles = (event) => !!event.dataTransfer && Array.from(event.dataTransfer.types || []).includes('Files');
    document.addEventListener('dragenter', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      dragDepth++;
      document.body.classList.add('dragging');
    });
    document.addEventListener('dragover', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    });
    document.addEventListener('dragleave', (event) => {
      if (!carriesFiles(event)) return;
      dragDepth = Math.max(0, dragDepth - 1);
      if (dragDepth === 0) document.body.classList.remove('dragging');
    });
    document.addEventListener('drop', (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      dragDepth = 0;
      document.body.classList.remove('dragging');
      upload(event.dataTransfer.files);
    });
  }

  // ---- dialog -------------------------------------------------------------------------

  const dialog = $('dialog');
  const dialogForm = $('dialog-form');
  const dialogInput = $('dialog-input');
  const dialogText = $('dialog-text');
  const dialogOk = $('dialog-ok');
  let settle = null;

  // Resolves to the typed text (or true without an input field), or null if cancelled.
  function ask(options) {
    $('dialog-title').textContent = options.title;
    dialogText.textContent = options.text || '';
    dialogText.hidden = !options.text;
    const wantsText = typeof options.value === 'string';
    dialogInput.hidden = !wantsText;
    dialogInput.required = wantsText;
    dialogInput.value = wantsText ? options.value : '';
    dialogOk.textContent = options.ok;
    dialogOk.classList.toggle('danger', !!options.danger);
    dialog.showModal();
    if (wantsText) {
      dialogInput.focus();
      const dot = options.value.lastIndexOf('.');
      dialogInput.setSelectionRange(0, dot > 0 && !options.folder ? dot : options.value.length);
    } else {
      dialogOk.focus();
    }
    return new Promise((resolve) => {
      settle = (answer) => {
        settle = null;
        if (dialog.open) dialog.close();
        resolve(answer);
      };
    });
  }
  dialogForm.addEventListener('submit', (event) => {
    event.preventDefault();
    if (settle) settle(dialogInput.hidden ? true : dialogInput.value);
  });
  $('dialog-cancel').addEventListener('click', () => { if (settle) settle(null); });
  dialog.addEventListener('close', () => { if (settle) settle(null); });

  // ---- actions ------------------------------------------------------------------------

  // Sends a write of `url` (and of `touched`, for a MOVE or COPY its destination too), with
  // the page's lock tokens for them.
  async function send(method, url, headers, touched) {
    quiet();
    const hrefs = [url, ...(touched || [])];
    const sent = withTokens(headers || {}, hrefs);
    let response;
    try {
      response = await fetch(url, { method, headers: sent, credentials: 'same-origin', cache: 'no-store' });
    } catch (e) {
      return null;
    }
    await settleTokens(response, sent, hrefs);
    return response;
  }

  const lost = (what) => say('error', 'Could not ' + what + ': the connection to the server was lost.');

  // Not in a history view, which has no such form.
  if ($('mkcol')) {
    $('mkcol').addEventListener('submit', async (event) => {
      event.preventDefault();
      const field = $('mkcol-name');
      const name = field.value.trim();
      const problem = badName(name);
      if (problem) { say('error', problem); return; }
      const what = 'create the folder ' + quoted(name);
      const response = await send('MKCOL', collection + encodeURIComponent(name) + '/');
      if (!response) { lost(what); return; }
      if (response.status === 201) {
        field.value = '';
        say('ok', 'Created the folder ' + quoted(name) + '.');
        refresh(new Set([name]));
      } else {
        say('error', await failure(what, response, { 405: 'a file or folder with that name already exists' }));
      }
    });
  }

  async function rename(row) {
    const old = row.dataset.name || '';
    const folder = row.dataset.kind === 'folder';
    const answer = await ask({
      title: folder ? 'Rename folder' : 'Rename file',
      text: 'New name for ' + quoted(old) + ':',
      value: old,
      ok: 'Rename',
      folder,
    });
    if (answer === null) return;
    const name = answer.trim();
    if (name === old) return;
    const problem = badName(name);
    if (problem) { say('error', problem); return; }
    const what = 'rename ' + quoted(old) + ' to ' + quoted(name);
    const target = new URL(collection + encodeURIComponent(name) + (folder ? '/' : ''), location.href);
    // Overwrite: F, so that a rename never silently replaces another item.
    const response = await send('MOVE', row.dataset.href, { Destination: target.href, Overwrite: 'F' }, [target.href]);
    if (!response) { lost(what); return; }
    if (response.status === 201 || response.status === 204) {
      // The server removes the locks of what moved (RFC 4918 §7.5): the tokens are no use now.
      forgetItem(row.dataset.href);
      say('ok', 'Renamed ' + quoted(old) + ' to ' + quoted(name) + '.');
      refresh(new Set([name]));
    } else {
      say('error', await failure(what, response, { 412: 'a file or folder with that name already exists' }));
      if (response.status === 207) refresh();
    }
  }

  async function remove(row) {
    const name = row.dataset.name || '';
    const folder = row.dataset.kind === 'folder';
    const yes = await ask({
      title: folder ? 'Delete this folder?' : 'Delete this file?',
      text: quoted(name) + (folder ? ' and everything in it' : '') + ' will be deleted. This cannot be undone.',
      ok: 'Delete',
      danger: true,
    });
    if (!yes) return;
    const what = 'delete ' + quoted(name);
    const response = await send('DELETE', row.dataset.href);
    if (!response) { lost(what); return; }
    if (response.status === 204 || response.status === 200) {
      forgetItem(row.dataset.href);
      say('ok', 'Deleted ' + quoted(name) + '.');
      refresh();
    } else {
      say('error', await failure(what, response));
      if (response.status === 207) refresh();
    }
  }

  // In the history (docs/history.md): a version is restored by a COPY onto the live file,
  // which keeps what it replaces as a version too; a trash item by a MOVE back to where it was
  // deleted from, never over something that is there now (Overwrite: F).
  const history = document.querySelector('main').dataset;

  async function restore(row) {
    const name = row.dataset.name || '';
    const folder = row.dataset.kind === 'folder';
    const copy = history.restore === 'copy';
    const target = copy
      ? history.restoreTo
      : history.restoreBase + encodeURIComponent(name) + (folder ? '/' : '');
    if (!target) return;
    let where = target;
    try { where = decodeURIComponent(target); } catch (e) { /* shown as sent */ }
    const yes = await ask({
      title: copy ? 'Restore this version?' : 'Restore this item?',
      text: copy
        ? quoted(where) + ' gets the content of ' + quoted(name) + '. What it has now is kept as a version.'
        : quoted(name) + (folder ? ' and everything in it' : '') + ' goes back to ' + quoted(where) + '.',
      ok: 'Restore',
    });
    if (!yes) return;
    const what = 'restore ' + quoted(name);
    const destination = new URL(target, location.href).href;
    const response = await send(copy ? 'COPY' : 'MOVE', row.dataset.href, {
      Destination: destination,
      Overwrite: copy ? 'T' : 'F',
    }, [destination]);
    if (!response) { lost(what); return; }
    if (response.status === 201 || response.status === 204) {
      say('ok', 'Restored ' + quoted(name) + ' to ' + quoted(where) + '.');
      if (!copy) refresh();
    } else {
      say('error', await failure(what, response, {
        412: 'something with that name is there now; rename or move it first',
        409: 'the folder it was in is gone; restore that folder first',
      }));
    }
  }

  table.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action]');
    if (!button) return;
    const row = button.closest('tr');
    if (!row) return;
    if (button.dataset.action === 'rename') rename(row);
    else if (button.dataset.action === 'delete') remove(row);
    else if (button.dataset.action === 'restore') restore(row);
  });

  // ---- start --------------------------------------------------------------------------

  $('dav-url').textContent = new URL(collection, location.href).href;
  localiseTimes(document);
  applySort();

  // What details.js uses.
  return Object.freeze({
    $, DAV, collection, table, say, quiet, explain, failure, serverWords, code, quoted, badName,
    humanSize, timeFormat, refresh, xml, davChild, textOf, statusNumber, hrefPath, readLocks,
    until, lockSentence, rememberToken, forgetToken, forgetItem, heldToken, withTokens,
    settleTokens, syncTokens,
  });
})();
