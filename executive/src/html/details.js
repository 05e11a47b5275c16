// The details panel: what a WebDAV client can learn and change about one item, each through
// the method made for it. Opening the panel sends a PROPFIND; its forms send PROPPATCH (dead
// properties), LOCK and UNLOCK, COPY and MOVE; and every request, with the server's answer,
// is listed under "What the page sent", so that the page can be read as a small WebDAV
// client, like the demonstration client the 1997 project shipped beside its server.
//
// Served after page.js in the same script, and given what page.js returns (`davd`). The token
// of a lock taken here is kept by page.js (davd.rememberToken), which sends it with the page's
// own writes to the item: here, PROPPATCH, COPY and MOVE; there, rename, delete and upload.
// Safety, as in page.js: what the server answers and what the user types reach the page only
// through textContent and input.value, and reach a request body only through xmlEscape().
(function (davd) {
  const { $, DAV, quoted } = davd;
  const panel = $('details');
  if (!panel) return; // a history view offers no changes, so no panel

  const XML_TYPE = 'application/xml; charset=utf-8';
  const XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n';
  const REPL_NS = 'http://schemas.microsoft.com/repl/';
  const OFFICE_NS = 'urn:schemas-microsoft-com:office:office';

  // The item shown: its row's href (percent-encoded), name and kind. Each action works on the
  // item it started with (`target`), which stays valid if the panel is closed meanwhile.
  let item = null;
  // Bumped on every PROPFIND, so that the answer for an item no longer shown is dropped.
  let generation = 0;
  // One request at a time: a second click while one runs is ignored.
  let running = false;

  // ---- building requests ----------------------------------------------------------------

  // Text for an XML body: what the user typed can never become markup.
  function xmlEscape(text) {
    return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  }

  // A property element: `<p:colour xmlns:p="urn:x">red</p:colour>`, empty to name it only.
  // A property in no namespace is written with `xmlns=""`.
  function propElement(ns, name, value) {
    const tag = ns ? 'p:' + name : name;
    const declaration = ns ? ' xmlns:p="' + xmlEscape(ns) + '"' : ' xmlns=""';
    if (value === undefined) return '<' + tag + declaration + '/>';
    return '<' + tag + declaration + '>' + xmlEscape(value) + '</' + tag + '>';
  }

  // "urn:x:colour", "DAV:getetag": a namespace and a name written together, as WebDAV texts do.
  function fullName(ns, name) {
    if (!ns) return name;
    return ns + (/[:/#]$/.test(ns) ? '' : ':') + name;
  }

  // A property's name must be an XML name: a letter or _ first, then letters, digits, . - _.
  const XML_NAME = /^[\p{L}_][\p{L}\p{N}._-]*$/u;

  // A decoded path percent-encoded segment by segment: a name may hold '#', '?' or '%'.
  function encodePath(path) {
    return path.split('/').map(encodeURIComponent).join('/');
  }

  // ---- the record of requests -------------------------------------------------------------

  const wire = $('details-wire');
  const KEPT = 8;

  // The server sends its XML on one line; one element a line, indented, is easier to read.
  function pretty(text) {
    if (!/^\s*</.test(text)) return text;
    let depth = 0;
    return text.trim().replace(/>\s*</g, '>\n<').split('\n').map((line) => {
      if (line.startsWith('</')) depth = Math.max(0, depth - 1);
      const out = '  '.repeat(depth) + line;
      const opens = /^<[^/?!]/.test(line) && !line.endsWith('/>') && !line.includes('</');
      if (opens) depth++;
      return out;
    }).join('\n');
  }

  function block(className, text) {
    const pre = document.createElement('pre');
    pre.className = className;
    pre.textContent = text;
    return pre;
  }

  // Lists a request before it leaves; `answered` adds the server's answer to the same entry.
  function record(method, href, headers, body) {
    const entry = document.createElement('li');
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    const line = document.createElement('span');
    line.className = 'wire-line';
    line.textContent = method + ' ' + davd.hrefPath(href);
    const result = document.createElement('span');
    result.className = 'wire-status';
    result.textContent = '\u2026';
    summary.append(line, ' \u2192 ', result);
    let request = method + ' ' + href + ' HTTP/1.1\n';
    for (const [name, value] of Object.entries(headers)) request += name + ': ' + value + '\n';
    if (body) request += '\n' + pretty(body);
    details.append(summary, block('wire-request', request));
    entry.append(details);
    wire.prepend(entry);
    while (wire.children.length > KEPT) wire.lastElementChild.remove();
    return { entry, details, result };
  }

  function answered(recorded, response, body) {
    if (!response) {
      recorded.result.textContent = 'no answer';
      recorded.entry.className = 'fail';
      return;
    }
    const status = response.status + ' ' + (response.statusText || '');
    recorded.result.textContent = status.trim();
    recorded.entry.className = response.status < 300 ? 'ok' : 'fail';
    let text = 'HTTP/1.1 ' + status.trim() + '\n';
    response.headers.forEach((value, name) => { text += name + ': ' + value + '\n'; });
    if (body) text += '\n' + pretty(body.length > 20000 ? body.slice(0, 20000) + '\u2026' : body);
    recorded.details.append(block('wire-response', text));
  }

  // Sends one request and records it with its answer. Resolves to { response, text }, where
  // the response's own body is left unread for davd.failure(), or null if the connection
  // failed. A write names what it changes in `touched` (the item, and a destination), so that
  // it carries the page's lock tokens for them in an If header.
  async function exchange(method, href, headers, body, touched) {
    if (touched) headers = davd.withTokens(headers, touched);
    const recorded = record(method, href, headers, body);
    let response = null;
    let text = '';
    try {
      response = await fetch(href, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
      text = await response.clone().text();
    } catch (e) {
      response = null;
    }
    answered(recorded, response, text);
    if (response && touched) await davd.settleTokens(response, headers, touched);
    return response ? { response, text } : null;
  }

  // ---- the panel's own message ------------------------------------------------------------

  const message = $('details-message');
  const messageText = $('details-message-text');

  // The page's message area is behind the panel while it is open, so the panel has its own.
  function tell(kind, text) {
    message.className = 'message ' + kind;
    message.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    messageText.textContent = text;
    message.hidden = false;
  }

  function hush() {
    message.hidden = true;
  }

  const lost = (what) => tell('error', 'Could not ' + what + ': the connection to the server was lost.');

  // ---- reading the properties ---------------------------------------------------------------

  // allprop: every dead property and the live ones; lockdiscovery and supportedlock are named
  // in `include` too (RFC 4918 §9.1), so the lock state is there whatever allprop covers.
  const ALLPROP = XML_DECLARATION + '<D:propfind xmlns:D="DAV:"><D:allprop/>' +
    '<D:include><D:lockdiscovery/><D:supportedlock/></D:include></D:propfind>';

  // The property elements of a Depth 0 answer that came back with 200.
  function foundProps(text) {
    const doc = davd.xml(text);
    const found = [];
    if (!doc) return found;
    for (const propstat of doc.getElementsByTagNameNS(DAV, 'propstat')) {
      if (davd.statusNumber(davd.davChild(propstat, 'status')) !== 200) continue;
      const prop = davd.davChild(propstat, 'prop');
      if (prop) found.push(...prop.children);
    }
    return found;
  }

  // A PROPFIND answer does not say which properties are live. These are the ones davd's
  // handlers compute (subsystems/src/live): every DAV: one, Microsoft's replication and Office
  // ones, and the example hit counter. Everything else is a dead property.
  function isLive(element) {
    const ns = element.namespaceURI || '';
    const name = element.localName;
    return ns === DAV || ns === REPL_NS || (ns === OFFICE_NS && name === 'modifiedby') ||
      (ns === 'urn:davd:' && name === 'hits');
  }

  // A value as text: its text, or, when it holds elements, its markup (shown, never parsed).
  function valueText(element) {
    if (element.children.length === 0) return element.textContent;
    const serializer = new XMLSerializer();
    return Array.from(element.childNodes).map((node) => serializer.serializeToString(node)).join('');
  }

  // PROPFIND Depth 0 of the item; fills in every section from the answer.
  async function load(target) {
    if (target !== item) return;
    const mine = ++generation;
    const answer = await exchange('PROPFIND', target.href, { Depth: '0', 'Content-Type': XML_TYPE }, ALLPROP);
    if (mine !== generation || target !== item) return;
    if (!answer) { lost('read the properties'); return; }
    if (answer.response.status !== 207) {
      tell('error', await davd.failure('read the properties of ' + quoted(target.name), answer.response));
      return;
    }
    const live = new Map(); // the DAV: ones, by name
    const computed = []; // every live one
    const dead = [];
    for (const element of foundProps(answer.text)) {
      if (!isLive(element)) { dead.push(element); continue; }
      computed.push(element);
      if (element.namespaceURI === DAV) live.set(element.localName, element);
    }
    const locks = davd.readLocks(live.get('lockdiscovery'));
    // A lock the page holds and the item's lockdiscovery no longer lists is gone.
    davd.syncTokens(target.href, locks.map((lock) => lock.token));
    showFacts(live, locks);
    showComputed(computed);
    showLocks(target, locks, live.get('supportedlock'));
    showDead(dead);
  }

  // ---- live properties ------------------------------------------------------------------

  const localTime = (text) => {
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? text : davd.timeFormat.format(date);
  };

  // One fact: a label, the property it comes from (small, for the curious) and its value.
  function fact(list, label, property, value) {
    const term = document.createElement('dt');
    term.textContent = label;
    if (property) {
      const name = document.createElement('small');
      name.textContent = property;
      term.append(' ', name);
    }
    const description = document.createElement('dd');
    description.textContent = value;
    list.append(term, description);
  }

  function showFacts(live, locks) {
    const list = $('details-live');
    list.replaceChildren();
    const text = (name) => (live.has(name) ? live.get(name).textContent.trim() : '');
    const folder = !!davd.davChild(live.get('resourcetype'), 'collection');
    fact(list, 'Type', folder ? 'resourcetype' : 'getcontenttype', folder ? 'Folder' : text('getcontenttype') || 'unknown');
    if (live.has('getcontentlength')) {
      // "48 kB (48,213 bytes)": the exact count as well, where the short form rounds.
      const bytes = Number(text('getcontentlength'));
      const exact = bytes >= 1000 ? ' (' + bytes.toLocaleString() + ' bytes)' : '';
      fact(list, 'Size', 'getcontentlength', davd.humanSize(bytes) + exact);
    }
    if (live.has('getlastmodified')) fact(list, 'Modified', 'getlastmodified', localTime(text('getlastmodified')));
    if (live.has('creationdate')) fact(list, 'Created', 'creationdate', localTime(text('creationdate')));
    if (live.has('getetag')) fact(list, 'ETag', 'getetag', text('getetag'));
    fact(list, 'Lock', 'lockdiscovery', locks.length
      ? locks.map((lock) => davd.lockSentence(lock)).join('; ')
      : 'not locked');
  }

  // The other live properties, for the curious: Microsoft's, the display name, ...
  function showComputed(computed) {
    const list = $('details-computed');
    list.replaceChildren();
    const shown = ['getcontenttype', 'getcontentlength', 'getlastmodified', 'creationdate', 'getetag',
      'lockdiscovery', 'supportedlock'];
    for (const element of computed) {
      if (element.namespaceURI === DAV && shown.includes(element.localName)) continue;
      const value = element.localName === 'resourcetype'
        ? Array.from(element.children).map((c) => c.localName).join(', ') || '(none: a file)'
        : valueText(element);
      fact(list, fullName(element.namespaceURI || '', element.localName), '', value);
    }
  }

  // ---- locks ------------------------------------------------------------------------------

  function showLocks(target, locks, supported) {
    const list = $('details-locks');
    list.replaceChildren();
    for (const lock of locks) {
      const entry = document.createElement('li');
      const who = document.createElement('strong');
      who.textContent = lock.owner ? 'Locked by ' + quoted(lock.owner) : 'Locked (no owner given)';
      // The token the page kept from its own LOCK, if this is that lock.
      const held = davd.heldToken(lock.root || target.href);
      const mine = held !== '' && held === lock.token;
      if (mine) {
        const badge = document.createElement('span');
        badge.className = 'held';
        badge.textContent = 'held by this page';
        who.append(' ', badge);
      }
      const what = document.createElement('span');
      what.textContent = lock.scope + ' write lock, depth ' + lock.depth + ', ' + davd.until(lock.seconds);
      const token = document.createElement('code');
      token.textContent = lock.token;
      const tokenLine = document.createElement('span');
      tokenLine.className = 'hint';
      tokenLine.append('Token ', token);
      if (lock.root && davd.hrefPath(lock.root) !== davd.hrefPath(target.href)) {
        tokenLine.append(', taken on ' + quoted(davd.hrefPath(lock.root)));
      }
      const unlock = document.createElement('button');
      unlock.type = 'button';
      unlock.className = 'button';
      unlock.dataset.token = mine ? held : lock.token;
      unlock.textContent = 'Unlock';
      entry.append(who, what, tokenLine, unlock);
      list.append(entry);
    }
    $('details-unlocked').hidden = locks.length > 0;
    // What the server offers, from supportedlock: "exclusive or shared write locks".
    const scopes = supported
      ? Array.from(supported.getElementsByTagNameNS(DAV, 'lockscope')).map((s) => s.firstElementChild && s.firstElementChild.localName).filter(Boolean)
      : [];
    $('lock-hint').textContent = 'Lock asks for an exclusive write lock for an hour (Timeout: Second-3600, Depth: ' +
      depthFor(target) + '). The page keeps its token, for this tab, and sends it with its own changes (If header).' +
      ' Unlock sends that token, or else the one read from lockdiscovery.' +
      (scopes.length ? ' The server offers ' + scopes.join(' or ') + ' write locks.' : '');
  }

  // A file's lock covers the file; a folder's covers everything in it (RFC 4918 §9.10.3).
  const depthFor = (target) => (target.folder ? 'infinity' : '0');

  async function lock(target, owner) {
    const body = XML_DECLARATION + '<D:lockinfo xmlns:D="DAV:">' +
      '<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>' +
      '<D:owner>' + xmlEscape(owner) + '</D:owner></D:lockinfo>';
    const what = 'lock ' + quoted(target.name);
    const answer = await exchange('LOCK', target.href, {
      'Content-Type': XML_TYPE, Depth: depthFor(target), Timeout: 'Second-3600',
    }, body);
    if (!answer) { lost(what); return; }
    const status = answer.response.status;
    if (status === 200 || status === 201) {
      // The token is in the Lock-Token header, and in the lockdiscovery of the answer's body.
      const doc = davd.xml(answer.text);
      const granted = davd.readLocks(doc && doc.getElementsByTagNameNS(DAV, 'lockdiscovery')[0]);
      const token = (answer.response.headers.get('lock-token') || '').trim().replace(/^<|>$/g, '') ||
        (granted.length ? granted[0].token : '');
      davd.rememberToken(target.href, token);
      tell('ok', 'Locked ' + quoted(target.name) + ' for ' + quoted(owner) + '. The lock token (Lock-Token header) is ' + token +
        '; this page keeps it and sends it with its own changes until you unlock.');
    } else {
      tell('error', await davd.failure(what, answer.response, { 423: 'someone holds a lock on it already' }));
    }
    await load(target);
  }

  // UNLOCK needs the lock's token: the one the page kept from its LOCK, or else the one read
  // from lockdiscovery, which any client may do (docs/browser.md).
  async function unlock(target, token) {
    const what = 'unlock ' + quoted(target.name);
    const answer = await exchange('UNLOCK', target.href, { 'Lock-Token': '<' + token + '>' });
    if (!answer) { lost(what); return; }
    if (answer.response.status === 204) {
      davd.forgetToken(token);
      tell('ok', 'Unlocked ' + quoted(target.name) + '.');
    } else {
      tell('error', await davd.failure(what, answer.response, { 409: 'that lock no longer covers it' }));
    }
    await load(target);
  }

  // ---- dead properties ------------------------------------------------------------------

  // An icon button like the listing's, with the icon from the page's sprite.
  function iconButton(icon, action, label, danger) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = danger ? 'icon-button danger' : 'icon-button';
    button.dataset.prop = action;
    button.title = label;
    button.setAttribute('aria-label', label);
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'icon');
    const use = document.createElementNS('http://www.w3.org/2000/svg', 'use');
    use.setAttribute('href', '#' + icon);
    svg.append(use);
    button.append(svg);
    return button;
  }

  function showDead(dead) {
    const body = $('dead-props').tBodies[0];
    body.replaceChildren();
    for (const element of dead) {
      const ns = element.namespaceURI || '';
      const name = element.localName;
      const row = body.insertRow();
      row.dataset.ns = ns;
      row.dataset.name = name;
      row.dataset.value = valueText(element);
      row.insertCell().textContent = ns || '(none)';
      row.insertCell().textContent = name;
      const value = document.createElement(element.children.length ? 'code' : 'span');
      value.textContent = row.dataset.value;
      row.insertCell().append(value);
      const label = fullName(ns, name);
      row.insertCell().append(iconButton('i-rename', 'edit', 'Edit ' + label), iconButton('i-trash', 'remove', 'Remove ' + label, true));
    }
    $('dead-props').hidden = dead.length === 0;
    $('dead-empty').hidden = dead.length > 0;
  }

  // What a PROPPATCH's 207 says about each property: its status, and for a failure the
  // precondition the server names (cannot-modify-protected-property) and its description.
  function propStatuses(text) {
    const doc = davd.xml(text);
    const results = [];
    if (!doc) return results;
    for (const propstat of doc.getElementsByTagNameNS(DAV, 'propstat')) {
      const status = davd.davChild(propstat, 'status');
      const number = davd.statusNumber(status);
      const reason = davd.textOf(status).split(' ').slice(2).join(' ');
      const error = davd.davChild(propstat, 'error');
      const why = [];
      if (error) why.push(...Array.from(error.children).map((c) => c.localName));
      const description = davd.textOf(davd.davChild(propstat, 'responsedescription'));
      if (description) why.push(description);
      for (const prop of (davd.davChild(propstat, 'prop') || { children: [] }).children) {
        results.push({ name: fullName(prop.namespaceURI || '', prop.localName), number, reason, why });
      }
    }
    return results;
  }

  function showStatuses(results) {
    const list = $('prop-results');
    list.replaceChildren();
    for (const result of results) {
      const entry = document.createElement('li');
      entry.className = result.number >= 200 && result.number < 300 ? 'ok' : 'fail';
      entry.textContent = result.name + ' \u2014 ' + result.number + ' ' + result.reason +
        (result.why.length ? ' (' + result.why.join('; ') + ')' : '');
      list.append(entry);
    }
    list.hidden = results.length === 0;
  }

  // One PROPPATCH with `changes` ({ set: true|false, ns, name, value }) in order: the server
  // applies all of them or none (RFC 4918 §9.2), and answers 207 with a status per property.
  async function proppatch(target, changes, what, done) {
    const body = XML_DECLARATION + '<D:propertyupdate xmlns:D="DAV:">' + changes.map((c) => c.set
      ? '<D:set><D:prop>' + propElement(c.ns, c.name, c.value) + '</D:prop></D:set>'
      : '<D:remove><D:prop>' + propElement(c.ns, c.name) + '</D:prop></D:remove>').join('') +
      '</D:propertyupdate>';
    const answer = await exchange('PROPPATCH', target.href, { 'Content-Type': XML_TYPE }, body, [target.href]);
    if (!answer) { lost(what); return; }
    if (answer.response.status !== 207) {
      showStatuses([]);
      tell('error', await davd.failure(what, answer.response));
      return;
    }
    const results = propStatuses(answer.text);
    showStatuses(results);
    const refused = results.filter((r) => r.number >= 300 && r.number !== 424);
    if (refused.length === 0) {
      tell('ok', done + '.');
    } else {
      tell('error', 'Nothing changed: the server refused ' + refused.map((r) => r.name).join(', ') +
        (results.length > refused.length ? ', and PROPPATCH is all or nothing (424 Failed Dependency for the rest).' : '.'));
    }
    await load(target);
  }

  $('prop-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const ns = $('prop-ns').value.trim();
    const name = $('prop-name').value.trim();
    const value = $('prop-value').value;
    if (!XML_NAME.test(name)) {
      tell('error', 'A property name must be an XML name: a letter or _ first, then letters, digits, ., - or _.');
      return;
    }
    const changes = [{ set: true, ns, name, value }];
    // The demonstration of atomicity: a protected live property in the same request.
    if ($('prop-protected').checked) changes.push({ set: true, ns: DAV, name: 'getlastmodified', value: new Date().toUTCString() });
    act((target) => proppatch(target, changes, 'set ' + fullName(ns, name), 'Set ' + fullName(ns, name)));
  });

  $('dead-props').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-prop]');
    const row = button && button.closest('tr');
    if (!row) return;
    const { ns, name, value } = row.dataset;
    if (button.dataset.prop === 'edit') {
      // Editing is setting again: the form is filled in, and Set property sends it.
      $('prop-ns').value = ns;
      $('prop-name').value = name;
      $('prop-value').value = value;
      $('prop-value').focus();
      $('prop-value').select();
      return;
    }
    act((target) => proppatch(target, [{ set: false, ns, name }], 'remove ' + fullName(ns, name), 'Removed ' + fullName(ns, name)));
  });

  // ---- copy and move ----------------------------------------------------------------------

  // "notes.md" -> "notes copy.md": a destination that does not exist yet, to start from.
  function copyName(name, folder) {
    const dot = name.lastIndexOf('.');
    return !folder && dot > 0 ? name.slice(0, dot) + ' copy' + name.slice(dot) : name + ' copy';
  }

  // The destination as a decoded absolute path; a name alone goes beside the item.
  function destinationPath(typed) {
    if (typed.startsWith('/')) return typed;
    return davd.hrefPath(davd.collection) + typed;
  }

  async function copyOrMove(target, method, typed, overwrite) {
    const path = destinationPath(typed);
    const verb = method === 'COPY' ? 'copy' : 'move';
    const what = verb + ' ' + quoted(target.name) + ' to ' + quoted(path);
    const slash = target.folder && !path.endsWith('/') ? '/' : '';
    const destination = new URL(encodePath(path) + slash, location.href).href;
    // Overwrite: T replaces what is at the destination; F makes the server refuse (412).
    const answer = await exchange(method, target.href, { Destination: destination, Overwrite: overwrite ? 'T' : 'F' },
      undefined, [target.href, destination]);
    if (!answer) { lost(what); return; }
    const status = answer.response.status;
    if (status === 201 || status === 204) {
      // 204: something was there and has been replaced; 201: the destination is new.
      const done = (method === 'COPY' ? 'Copied ' : 'Moved ') + quoted(target.name) + ' to ' + quoted(path) +
        (status === 204 ? ', replacing what was there.' : '.');
      davd.refresh();
      if (method === 'MOVE') {
        // The server removes the locks of what moved (RFC 4918 §7.5): the tokens are no use now.
        davd.forgetItem(target.href);
        // The item is not where the panel shows it any more.
        if (target === item) panel.close();
        davd.say('ok', done);
      } else {
        tell('ok', done);
      }
      return;
    }
    const overrides = { 409: 'the folder it would go into does not exist' };
    if (!overwrite) overrides[412] = quoted(path) + ' exists; tick Overwrite to replace it';
    tell('error', await davd.failure(what, answer.response, overrides));
    if (status === 207) davd.refresh();
  }

  $('copy-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const method = event.submitter && event.submitter.dataset.method === 'MOVE' ? 'MOVE' : 'COPY';
    const typed = $('copy-dest').value.trim();
    if (!typed) { tell('error', 'Type where to ' + method.toLowerCase() + ' it first.'); return; }
    act((target) => copyOrMove(target, method, typed, $('copy-overwrite').checked));
  });

  // ---- opening and closing ------------------------------------------------------------------

  // Runs one action at a time on the item shown, clearing the panel's last message first.
  async function act(action) {
    if (running || !item) return;
    running = true;
    panel.classList.add('busy');
    hush();
    try {
      await action(item);
    } finally {
      running = false;
      panel.classList.remove('busy');
    }
  }

  $('lock-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const owner = $('lock-owner').value.trim() || 'browser';
    try { localStorage.setItem('davd-lock-owner', owner); } catch (e) { /* storage may be disabled */ }
    act((target) => lock(target, owner));
  });

  $('details-locks').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-token]');
    if (button) act((target) => unlock(target, button.dataset.token));
  });

  function open(row) {
    item = { href: row.dataset.href, name: row.dataset.name || '', folder: row.dataset.kind === 'folder' };
    $('details-title').textContent = item.name;
    $('details-path').textContent = davd.hrefPath(item.href);
    for (const id of ['details-live', 'details-computed', 'details-locks']) $(id).replaceChildren();
    $('dead-props').tBodies[0].replaceChildren();
    showStatuses([]);
    hush();
    $('prop-name').value = '';
    $('prop-value').value = '';
    $('prop-protected').checked = false;
    $('copy-dest').value = davd.hrefPath(davd.collection) + copyName(item.name, item.folder);
    $('copy-overwrite').checked = false;
    try { $('lock-owner').value = localStorage.getItem('davd-lock-owner') || 'browser'; } catch (e) { /* keep the default */ }
    panel.showModal();
    // Not through act(): an action still running for an item shown before must not keep
    // this one's properties from loading.
    load(item);
  }

  $('details-close').addEventListener('click', () => panel.close());

  // Back to the row's Details button (the listing may have been refreshed meanwhile).
  panel.addEventListener('close', () => {
    generation++;
    const shown = item;
    item = null;
    if (!shown) return;
    for (const row of davd.table.tBodies[0].rows) {
      if (row.dataset.href === shown.href) {
        const button = row.querySelector('button[data-action="details"]');
        if (button) button.focus();
      }
    }
  });

  davd.table.addEventListener('click', (event) => {
    const button = event.target.closest('button[data-action="details"]');
    const row = button && button.closest('tr');
    if (row) open(row);
  });
})(davd);
