// End-to-end test of davd's directory page in headless Chromium.
//
//   DAVD_URL=http://127.0.0.1:PORT/ node e2e.mjs
//
// Drives Debian's chromium (CHROMIUM, default /usr/bin/chromium) through playwright-core:
// uploads through the form, creates a folder, renames, deletes, checks the messages shown
// for refused actions, works the details panel (properties, PROPPATCH, LOCK and UNLOCK, COPY
// and MOVE), restores from the history, and saves screenshots (SCREENSHOT_DIR, default docs/
// of the repository). Ends with "e2e: N passed, N failed" and a non-zero exit on failure.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const base = process.env.DAVD_URL;
if (!base) {
  console.error('set DAVD_URL to a running davd, e.g. http://127.0.0.1:8080/');
  process.exit(2);
}
const screenshots = resolve(process.env.SCREENSHOT_DIR || join(here, '..', '..', 'docs'));
const url = (path) => new URL(path, base).href;
const HOSTILE = '<img src=x onerror=alert(1)>.txt';

// ---- a small WebDAV client for setting up and checking ----------------------------------

async function dav(method, path, { headers = {}, body } = {}) {
  const response = await fetch(url(path), { method, headers, body });
  await response.arrayBuffer();
  return response;
}

async function put(path, body) {
  const response = await dav('PUT', path, { body });
  assert.ok(response.status === 201 || response.status === 204, `PUT ${path}: ${response.status}`);
}

async function mkcol(path) {
  assert.equal((await dav('MKCOL', path)).status, 201, `MKCOL ${path}`);
}

async function lock(path) {
  const body = '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">' +
    '<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>' +
    '<D:owner>someone else</D:owner></D:lockinfo>';
  const response = await dav('LOCK', path, {
    headers: { 'Content-Type': 'application/xml', Timeout: 'Second-600' },
    body,
  });
  assert.equal(response.status, 200, `LOCK ${path}`);
  return response.headers.get('lock-token');
}

async function unlock(path, lockToken) {
  assert.equal((await dav('UNLOCK', path, { headers: { 'Lock-Token': lockToken } })).status, 204, `UNLOCK ${path}`);
}

async function davText(method, path, { headers = {}, body } = {}) {
  const response = await fetch(url(path), { method, headers, body });
  return { status: response.status, text: await response.text() };
}

const XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>';

// Sets properties (`inner` is the content of D:prop) and checks that each was set.
async function proppatch(path, inner) {
  const body = `${XML_HEAD}<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>${inner}</D:prop></D:set></D:propertyupdate>`;
  const answer = await davText('PROPPATCH', path, { headers: { 'Content-Type': 'application/xml' }, body });
  assert.equal(answer.status, 207, `PROPPATCH ${path}`);
  assert.ok(!/HTTP\/1\.1 [45]/.test(answer.text), answer.text);
}

// The 207 of a Depth 0 PROPFIND of the named properties (`inner` is the content of D:prop).
async function propfind(path, inner) {
  const body = `${XML_HEAD}<D:propfind xmlns:D="DAV:"><D:prop>${inner}</D:prop></D:propfind>`;
  const answer = await davText('PROPFIND', path, {
    headers: { Depth: '0', 'Content-Type': 'application/xml' },
    body,
  });
  assert.equal(answer.status, 207, `PROPFIND ${path}`);
  return answer.text;
}

async function status(path) {
  return (await dav('GET', path)).status;
}

async function text(path) {
  return (await fetch(url(path))).text();
}

const bytes = (n, seed = 7) => {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};

// ---- steps ----------------------------------------------------------------------------

let passed = 0;
let failed = 0;

async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e && e.stack ? e.stack : e}`);
    throw e;
  }
}

const row = (page, name) => page.locator('#listing tbody tr').filter({
  has: page.locator('.name', { hasText: name }),
});
const rowNames = (page) => page.$$eval('#listing tbody tr', (rows) => rows.map((r) => r.dataset.name));

async function confirmDialog(page, { value } = {}) {
  const dialog = page.locator('#dialog');
  await dialog.waitFor({ state: 'visible' });
  if (value !== undefined) await page.fill('#dialog-input', value);
  await page.click('#dialog-ok');
  await dialog.waitFor({ state: 'hidden' });
}

// Waits for a message of this kind that names every part: an earlier action's message may
// still be on screen for a moment, and must not be mistaken for this one's.
async function expectMessage(page, kind, ...parts) {
  return expectIn(page, 'message', kind, parts);
}

// The same for the details panel's own message.
async function expectPanelMessage(page, kind, ...parts) {
  return expectIn(page, 'details-message', kind, parts);
}

async function expectIn(page, id, kind, parts) {
  const message = page.locator(`#${id}.${kind}`);
  await message.waitFor({ state: 'visible' });
  await page.waitForFunction(
    ([box, k, want]) => {
      const element = document.getElementById(box);
      const text = document.getElementById(`${box}-text`).textContent || '';
      return !element.hidden && element.classList.contains(k) && want.every((p) => text.includes(p));
    },
    [id, kind, parts],
    { timeout: 5000 },
  ).catch(() => {});
  const shown = await page.textContent(`#${id}-text`);
  for (const part of parts) assert.ok(shown.includes(part), `message ${JSON.stringify(shown)} lacks ${JSON.stringify(part)}`);
  return shown;
}

// ---- the details panel ------------------------------------------------------------------

const deadRow = (page, name) => page.locator('#dead-props tbody tr').filter({
  has: page.locator('td:nth-child(2)', { hasText: new RegExp(`^${name}$`) }),
});

// Opens the details of `name` and waits for its PROPFIND's answer to be shown.
async function openDetails(page, name) {
  await row(page, name).locator('[data-action="details"]').click();
  await page.locator('#details').waitFor({ state: 'visible' });
  await page.locator('#details-live dt').first().waitFor();
}

async function closeDetails(page) {
  await page.keyboard.press('Escape');
  await page.locator('#details').waitFor({ state: 'hidden' });
}

// Waits until the statuses of the last PROPPATCH list every line in `lines`.
async function expectStatuses(page, ...lines) {
  await page.waitForFunction(
    (want) => {
      const list = document.getElementById('prop-results');
      const shown = Array.from(list.children).map((li) => li.textContent);
      return !list.hidden && want.every((line) => shown.some((s) => s.startsWith(line)));
    },
    lines,
    { timeout: 5000 },
  ).catch(() => {});
  const shown = await page.$$eval('#prop-results li', (items) => items.map((li) => li.textContent));
  for (const line of lines) {
    assert.ok(shown.some((s) => s.startsWith(line)), `statuses ${JSON.stringify(shown)} lack ${JSON.stringify(line)}`);
  }
  return shown;
}

// Sends the property form as it is filled in.
async function setProperty(page, ns, name, value, { protectedToo = false } = {}) {
  await page.fill('#prop-ns', ns);
  await page.fill('#prop-name', name);
  await page.fill('#prop-value', value);
  await page.setChecked('#prop-protected', protectedToo);
  await page.click('#prop-form button[type="submit"]');
}

// The lock tokens the page keeps (sessionStorage), by decoded path.
const heldTokens = async (page) => page.evaluate(() => {
  const held = JSON.parse(sessionStorage.getItem('davd-lock-tokens') || '{}');
  return Object.fromEntries(Object.entries(held).map(([key, entry]) => [key, entry.token]));
});

// The lock tokens in the lockdiscovery of `path`, as the test's own client sees it.
const lockTokens = async (path) => Array.from((await propfind(path, '<D:lockdiscovery/>'))
  .matchAll(/<D:locktoken><D:href>([^<]+)</g), (m) => m[1]);

// Locks the item shown in the panel for `owner`, and returns the token the page kept.
async function lockInPanel(page, path, owner) {
  await page.fill('#lock-owner', owner);
  await page.click('#lock-form button[type="submit"]');
  await expectPanelMessage(page, 'ok', 'Locked', 'urn:uuid:');
  await page.locator('#details-locks li').waitFor();
  const [token] = await lockTokens(path);
  assert.ok(token, `${path} is not locked`);
  const key = decodeURIComponent(path).replace(/\/$/, '');
  assert.equal((await heldTokens(page))[key], token, 'the page keeps the token of its lock');
  return token;
}

async function copyOrMove(page, method, destination, overwrite) {
  await page.fill('#copy-dest', destination);
  await page.setChecked('#copy-overwrite', overwrite);
  await page.click(`#copy-form button[data-method="${method}"]`);
}

const profile = mkdtempSync(join(tmpdir(), 'davd-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  viewport: { width: 1280, height: 800 },
  locale: 'en-GB',
  timezoneId: 'UTC',
});

const nativeDialogs = [];
const pageErrors = [];
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(15000);
// The page never uses alert/confirm: a native dialog means a name ran as script.
page.on('dialog', async (d) => { nativeDialogs.push(d.message()); await d.dismiss(); });
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });

try {
  await mkcol('/e2e/');
  await mkcol('/e2e/Photos/');
  await put('/e2e/notes.md', '# notes\n');
  await put(`/e2e/${encodeURIComponent(HOSTILE)}`, 'hostile');

  await step('the listing loads, with script and without any foreign markup', async () => {
    await page.goto(url('/e2e/'));
    assert.equal(await page.getAttribute('html', 'class'), 'js');
    assert.equal(await page.textContent('h1'), 'e2e');
    assert.deepEqual(await rowNames(page), ['Photos', HOSTILE, 'notes.md']);
    assert.equal(await row(page, HOSTILE).locator('.name').textContent(), HOSTILE);
    assert.equal(await page.locator('#listing img').count(), 0);
    assert.equal(await page.textContent('#dav-url'), url('/e2e/'));
  });

  await step('uploading two files through the form shows progress and lists them', async () => {
    await page.evaluate(() => {
      const seen = (window.__progress = { shown: false, values: [] });
      const bar = document.getElementById('progress-bar');
      const box = document.getElementById('progress');
      new MutationObserver(() => {
        if (!box.hidden) seen.shown = true;
        seen.values.push(Number(bar.value));
      }).observe(box, { attributes: true, subtree: true });
    });
    await page.setInputFiles('#files', [
      { name: 'report.txt', mimeType: 'text/plain', buffer: Buffer.from('quarterly report\n') },
      { name: 'big.bin', mimeType: 'application/octet-stream', buffer: bytes(3_000_000) },
    ]);
    await row(page, 'report.txt').waitFor();
    await row(page, 'big.bin').waitFor();
    await expectMessage(page, 'ok', 'Uploaded 2 files.');
    const progress = await page.evaluate(() => window.__progress);
    assert.ok(progress.shown, 'the progress bar was shown');
    assert.equal(progress.values[progress.values.length - 1], 100, `progress ${progress.values}`);
    assert.equal(await text('/e2e/report.txt'), 'quarterly report\n');
    assert.equal(Buffer.from(await (await fetch(url('/e2e/big.bin'))).arrayBuffer()).equals(bytes(3_000_000)), true);
    assert.equal(await row(page, 'big.bin').locator('.c-size').textContent(), '3.0 MB');
  });

  await step('columns sort on click, folders stay first', async () => {
    await page.click('th[data-key="size"] button');
    assert.deepEqual(await rowNames(page), ['Photos', 'big.bin', 'report.txt', 'notes.md', HOSTILE]);
    assert.equal(await page.getAttribute('th[data-key="size"]', 'aria-sort'), 'descending');
    await page.click('th[data-key="size"] button');
    assert.deepEqual(await rowNames(page), ['Photos', HOSTILE, 'notes.md', 'report.txt', 'big.bin']);
    await page.click('th[data-key="name"] button');
    assert.deepEqual(await rowNames(page), ['Photos', HOSTILE, 'big.bin', 'notes.md', 'report.txt']);
  });

  await step('a new folder is created and listed among the folders', async () => {
    await page.fill('#mkcol-name', 'Archive');
    await page.click('#mkcol button[type="submit"]');
    await row(page, 'Archive').waitFor();
    await expectMessage(page, 'ok', 'Created the folder');
    assert.deepEqual((await rowNames(page)).slice(0, 2), ['Archive', 'Photos']);
    assert.equal(await status('/e2e/Archive/'), 200);
  });

  await step('creating a folder that exists says so', async () => {
    await page.fill('#mkcol-name', 'Photos');
    await page.click('#mkcol button[type="submit"]');
    await expectMessage(page, 'error', 'already exists', '405');
    await page.click('#message-close');
  });

  await step('a file is renamed', async () => {
    await row(page, 'report.txt').locator('[data-action="rename"]').click();
    assert.equal(await page.inputValue('#dialog-input'), 'report.txt');
    await confirmDialog(page, { value: 'summary.txt' });
    await row(page, 'summary.txt').waitFor();
    await expectMessage(page, 'ok', 'Renamed');
    assert.equal(await row(page, 'report.txt').count(), 0);
    assert.equal(await text('/e2e/summary.txt'), 'quarterly report\n');
    assert.equal(await status('/e2e/report.txt'), 404);
  });

  await step('a file is deleted', async () => {
    await row(page, 'big.bin').locator('[data-action="delete"]').click();
    await confirmDialog(page);
    await row(page, 'big.bin').waitFor({ state: 'detached' });
    await expectMessage(page, 'ok', 'Deleted');
    assert.equal(await status('/e2e/big.bin'), 404);
  });

  await step('cancelling a delete keeps the file', async () => {
    await row(page, 'summary.txt').locator('[data-action="delete"]').click();
    await page.locator('#dialog').waitFor({ state: 'visible' });
    await page.click('#dialog-cancel');
    await page.locator('#dialog').waitFor({ state: 'hidden' });
    assert.equal(await status('/e2e/summary.txt'), 200);
  });

  await step('renaming onto an existing name is refused with a clear message (412)', async () => {
    await row(page, 'summary.txt').locator('[data-action="rename"]').click();
    await confirmDialog(page, { value: 'notes.md' });
    await expectMessage(page, 'error', 'rename', 'already exists', '412');
    assert.equal(await text('/e2e/notes.md'), '# notes\n');
    assert.equal(await text('/e2e/summary.txt'), 'quarterly report\n');
  });

  await step('deleting a file someone has locked is refused with a clear message (423)', async () => {
    await lock('/e2e/notes.md');
    await row(page, 'notes.md').locator('[data-action="delete"]').click();
    await confirmDialog(page);
    // The server's words, and who holds the lock (from its lockdiscovery).
    await expectMessage(page, 'error', 'delete', 'locked', '423', 'lock-token-submitted', '\u201csomeone else\u201d');
    assert.equal(await status('/e2e/notes.md'), 200);
    assert.equal(await row(page, 'notes.md').count(), 1);
  });

  await step('uploading into a locked folder reports 423 per file', async () => {
    await mkcol('/e2e/Photos/locked/');
    await lock('/e2e/Photos/locked/');
    await page.goto(url('/e2e/Photos/locked/'));
    await page.setInputFiles('#files', [{ name: 'x.txt', mimeType: 'text/plain', buffer: Buffer.from('x') }]);
    await expectMessage(page, 'error', 'upload', 'x.txt', 'locked', '423');
    assert.equal(await status('/e2e/Photos/locked/x.txt'), 404);
  });

  await step('dropping files onto the page uploads them', async () => {
    await page.goto(url('/e2e/Photos/'));
    const files = await page.evaluateHandle(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(['first drop\n'], 'dropped-1.txt', { type: 'text/plain' }));
      transfer.items.add(new File(['second drop\n'], 'dropped-2.txt', { type: 'text/plain' }));
      return transfer;
    });
    await page.dispatchEvent('main', 'dragenter', { dataTransfer: files });
    assert.equal(await page.evaluate(() => document.body.classList.contains('dragging')), true);
    await page.dispatchEvent('main', 'dragover', { dataTransfer: files });
    await page.dispatchEvent('main', 'drop', { dataTransfer: files });
    await row(page, 'dropped-1.txt').waitFor();
    await row(page, 'dropped-2.txt').waitFor();
    await expectMessage(page, 'ok', 'Uploaded 2 files.');
    assert.equal(await page.evaluate(() => document.body.classList.contains('dragging')), false);
    assert.equal(await text('/e2e/Photos/dropped-1.txt'), 'first drop\n');
    assert.equal(await text('/e2e/Photos/dropped-2.txt'), 'second drop\n');
  });

  await step('deleting a mounted folder is refused with a clear message (403)', async () => {
    // scripts/browser-test.sh mounts an in-memory namespace at /team; a mount point
    // cannot be deleted (docs/configuration.md).
    await page.goto(url('/'));
    await row(page, 'team').locator('[data-action="delete"]').click();
    await confirmDialog(page);
    await expectMessage(page, 'error', 'delete', 'team', '403');
    assert.equal(await status('/team/'), 200);
    assert.equal(await row(page, 'team').count(), 1);
  });

  // ---- the details panel (docs/browser.md) ------------------------------------------------

  const COLOUR = '<x:colour xmlns:x="urn:e2e:">blue</x:colour>';
  const MARKUP = '<x:meta xmlns:x="urn:e2e:"><x:tag level="1">&lt;img src=x onerror=alert(2)&gt;</x:tag></x:meta>';

  await step('the details panel shows live and dead properties (PROPFIND)', async () => {
    await mkcol('/props/');
    await put('/props/paper.txt', 'paper');
    await proppatch('/props/paper.txt', COLOUR + MARKUP);
    await page.goto(url('/props/'));
    // By keyboard: the Details button is a button like the others.
    await row(page, 'paper.txt').locator('[data-action="details"]').focus();
    await page.keyboard.press('Enter');
    await page.locator('#details').waitFor({ state: 'visible' });
    await page.locator('#details-live dt').first().waitFor();
    assert.equal(await page.textContent('#details-title'), 'paper.txt');
    assert.equal(await page.textContent('#details-path'), '/props/paper.txt');
    const live = await page.textContent('#details-live');
    for (const part of ['text/plain', '5 bytes', 'getetag', 'not locked']) {
      assert.ok(live.includes(part), `live properties ${JSON.stringify(live)} lack ${part}`);
    }
    await deadRow(page, 'colour').waitFor();
    assert.deepEqual(await deadRow(page, 'colour').locator('td').allTextContents(),
      ['urn:e2e:', 'colour', 'blue', '']);
    assert.equal(await deadRow(page, 'colour').getByRole('button').count(), 2);
    // An XML value is shown as its markup, as text: nothing in it becomes an element.
    const markup = await deadRow(page, 'meta').locator('td:nth-child(3) code').textContent();
    assert.ok(markup.includes('<x:tag') && markup.includes('level="1"') && markup.includes('&lt;img'), markup);
    assert.equal(await page.locator('#details img').count(), 0);
    // The panel shows the request it sent.
    const sent = page.locator('#details-wire li').first();
    assert.equal(await sent.locator('.wire-line').textContent(), 'PROPFIND /props/paper.txt');
    assert.equal(await sent.locator('.wire-status').textContent(), '207 Multi-Status');
    await sent.locator('summary').click();
    assert.ok((await sent.locator('.wire-request').textContent()).includes('<D:allprop/>'));
    assert.ok((await sent.locator('.wire-response').textContent()).includes('urn:e2e:'));
    // Escape closes it and gives the focus back to the row's button.
    await closeDetails(page);
    assert.equal(await page.evaluate(() => document.activeElement.dataset.action), 'details');
  });

  await step('a dead property is added through the panel (PROPPATCH) and another client sees it', async () => {
    await openDetails(page, 'paper.txt');
    await setProperty(page, 'urn:e2e:', 'shape', 'round & <square>');
    await expectStatuses(page, 'urn:e2e:shape \u2014 200 OK');
    await expectPanelMessage(page, 'ok', 'Set urn:e2e:shape');
    await deadRow(page, 'shape').waitFor();
    assert.equal(await deadRow(page, 'shape').locator('td:nth-child(3)').textContent(), 'round & <square>');
    const seen = await propfind('/props/paper.txt', '<x:shape xmlns:x="urn:e2e:"/>');
    assert.ok(/HTTP\/1\.1 200/.test(seen) && seen.includes('round &amp; &lt;square'), seen);
    assert.equal(await page.locator('#details-wire li .wire-line').first().textContent(), 'PROPFIND /props/paper.txt');
    assert.equal(await page.locator('#details-wire li .wire-line').nth(1).textContent(), 'PROPPATCH /props/paper.txt');
  });

  await step('a dead property is edited through the panel', async () => {
    await deadRow(page, 'shape').getByRole('button', { name: 'Edit urn:e2e:shape' }).click();
    assert.equal(await page.inputValue('#prop-value'), 'round & <square>');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'prop-value');
    await page.fill('#prop-value', 'oval');
    await page.click('#prop-form button[type="submit"]');
    await expectStatuses(page, 'urn:e2e:shape \u2014 200 OK');
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#dead-props td'))
      .some((td) => td.textContent === 'oval'));
    assert.ok((await propfind('/props/paper.txt', '<x:shape xmlns:x="urn:e2e:"/>')).includes('>oval<'));
  });

  await step('a dead property is removed through the panel', async () => {
    await deadRow(page, 'shape').getByRole('button', { name: 'Remove urn:e2e:shape' }).click();
    await expectStatuses(page, 'urn:e2e:shape \u2014 200 OK');
    await expectPanelMessage(page, 'ok', 'Removed urn:e2e:shape');
    await deadRow(page, 'shape').waitFor({ state: 'detached' });
    const seen = await propfind('/props/paper.txt', '<x:shape xmlns:x="urn:e2e:"/>');
    assert.ok(/HTTP\/1\.1 404/.test(seen) && !seen.includes('oval'), seen);
  });

  await step('a protected property is refused (403) and the rest of the request fails with it (424)', async () => {
    await setProperty(page, 'urn:e2e:', 'size', 'large', { protectedToo: true });
    await expectStatuses(page,
      'urn:e2e:size \u2014 424 Failed Dependency',
      'DAV:getlastmodified \u2014 403 Forbidden (cannot-modify-protected-property');
    await expectPanelMessage(page, 'error', 'Nothing changed', 'DAV:getlastmodified', 'all or nothing');
    assert.equal(await page.locator('#prop-results li.fail').count(), 2);
    assert.ok(/HTTP\/1\.1 404/.test(await propfind('/props/paper.txt', '<x:size xmlns:x="urn:e2e:"/>')));
  });

  await step('an item is locked through the panel (LOCK), showing who holds it and until when', async () => {
    await page.fill('#lock-owner', 'Ada (browser)');
    await page.click('#lock-form button[type="submit"]');
    await expectPanelMessage(page, 'ok', 'Locked', 'urn:uuid:');
    const lock = page.locator('#details-locks li');
    await lock.waitFor();
    const shown = await lock.textContent();
    assert.ok(shown.includes('Locked by \u201cAda (browser)\u201d'), shown);
    assert.ok(shown.includes('exclusive write lock, depth 0, until '), shown);
    assert.ok(/in (59|60) minutes/.test(shown), shown);
    assert.ok((await page.textContent('#details-live')).includes('locked by \u201cAda (browser)\u201d'));
    assert.equal(await page.isVisible('#details-unlocked'), false);
    const seen = await propfind('/props/paper.txt', '<D:lockdiscovery/>');
    assert.ok(seen.includes('Ada (browser)') && seen.includes('<D:exclusive/>') && seen.includes('<D:depth>0</D:depth>'), seen);
    assert.ok(/Second-(3600|359\d)/.test(seen), seen);
    const token = /<D:locktoken><D:href>([^<]+)</.exec(seen)[1];
    assert.ok(shown.includes(token), `${shown} lacks the token ${token}`);
  });

  await step('while locked, a client without the token is refused (423); the panel says the page holds it', async () => {
    assert.equal((await dav('PUT', '/props/paper.txt', { body: 'overwritten' })).status, 423);
    assert.ok((await page.textContent('#details-locks li')).includes('held by this page'));
    const [token] = await lockTokens('/props/paper.txt');
    assert.deepEqual(await heldTokens(page), { '/props/paper.txt': token });
    assert.equal(await page.getAttribute('#details-locks li button', 'data-token'), token);
    assert.equal(await text('/props/paper.txt'), 'paper');
  });

  await step('while locked, the panel\'s PROPPATCH carries the page\'s token (If) and succeeds', async () => {
    const [token] = await lockTokens('/props/paper.txt');
    await setProperty(page, 'urn:e2e:', 'state', 'edited under the lock');
    await expectStatuses(page, 'urn:e2e:state \u2014 200 OK');
    await expectPanelMessage(page, 'ok', 'Set urn:e2e:state');
    assert.ok((await propfind('/props/paper.txt', '<x:state xmlns:x="urn:e2e:"/>')).includes('>edited under the lock<'));
    const sent = page.locator('#details-wire li').nth(1);
    assert.equal(await sent.locator('.wire-line').textContent(), 'PROPPATCH /props/paper.txt');
    assert.ok((await sent.locator('.wire-request').textContent()).includes(`If: </props/paper.txt> (<${token}>)`));
    await closeDetails(page);
  });

  await step('while locked, an upload over the file from the page succeeds, and the lock stays', async () => {
    const [token] = await lockTokens('/props/paper.txt');
    await page.setInputFiles('#files', [{ name: 'paper.txt', mimeType: 'text/plain', buffer: Buffer.from('new') }]);
    await expectMessage(page, 'ok', 'Uploaded \u201cpaper.txt\u201d');
    assert.equal(await text('/props/paper.txt'), 'new');
    assert.deepEqual(await lockTokens('/props/paper.txt'), [token]);
  });

  await step('the lock is released through the panel (UNLOCK)', async () => {
    await openDetails(page, 'paper.txt');
    await page.locator('#details-locks li button').click();
    await expectPanelMessage(page, 'ok', 'Unlocked');
    await page.locator('#details-unlocked').waitFor();
    assert.equal(await page.locator('#details-locks li').count(), 0);
    assert.equal(await page.locator('#details-wire li .wire-line').nth(1).textContent(), 'UNLOCK /props/paper.txt');
    assert.ok(!(await propfind('/props/paper.txt', '<D:lockdiscovery/>')).includes('activelock'));
    assert.deepEqual(await heldTokens(page), {}, 'the page forgets the token it unlocked');
    await put('/props/paper.txt', 'paper');
  });

  await step('copying onto an existing file without Overwrite is refused with a plain message (412)', async () => {
    await put('/props/target.txt', 'target');
    await copyOrMove(page, 'COPY', '/props/target.txt', false);
    await expectPanelMessage(page, 'error', '\u201c/props/target.txt\u201d exists; tick Overwrite to replace it', '412');
    assert.equal(await page.locator('#details-wire li .wire-line').first().textContent(), 'COPY /props/paper.txt');
    assert.equal(await text('/props/target.txt'), 'target');
  });

  await step('copying with Overwrite replaces the file, and its properties go with it', async () => {
    await copyOrMove(page, 'COPY', '/props/target.txt', true);
    await expectPanelMessage(page, 'ok', 'Copied', 'replacing what was there');
    assert.equal(await text('/props/target.txt'), 'paper');
    assert.ok((await propfind('/props/target.txt', '<x:colour xmlns:x="urn:e2e:"/>')).includes('>blue<'));
    assert.equal(await page.isVisible('#details'), true, 'the panel stays open after a copy');
  });

  await step('moving to a new name closes the panel and refreshes the listing', async () => {
    await copyOrMove(page, 'MOVE', 'moved.txt', false);
    await page.locator('#details').waitFor({ state: 'hidden' });
    await expectMessage(page, 'ok', 'Moved', '/props/moved.txt');
    await row(page, 'moved.txt').waitFor();
    await row(page, 'paper.txt').waitFor({ state: 'detached' });
    assert.equal(await status('/props/paper.txt'), 404);
    assert.equal(await status('/props/moved.txt'), 200);
    assert.equal(await text('/props/moved.txt'), 'paper');
  });

  await step('a file locked in the panel is renamed from its row, after a reload (the token is per tab)', async () => {
    await put('/props/draft.txt', 'draft');
    await page.goto(url('/props/'));
    await openDetails(page, 'draft.txt');
    await lockInPanel(page, '/props/draft.txt', 'Ada (browser)');
    await closeDetails(page);
    // sessionStorage: a reload of the tab keeps the token.
    await page.reload();
    await row(page, 'draft.txt').locator('[data-action="rename"]').click();
    await confirmDialog(page, { value: 'final.txt' });
    await expectMessage(page, 'ok', 'Renamed');
    await row(page, 'final.txt').waitFor();
    assert.equal(await status('/props/draft.txt'), 404);
    assert.equal(await status('/props/final.txt'), 200);
    // davd removes the lock of what moved (RFC 4918 §7.5: a MOVE does not move the lock), and
    // the page forgets its token.
    assert.deepEqual(await lockTokens('/props/final.txt'), []);
    assert.deepEqual(await heldTokens(page), {});
  });

  await step('a file locked in the panel is deleted from its row', async () => {
    await openDetails(page, 'final.txt');
    await lockInPanel(page, '/props/final.txt', 'Ada (browser)');
    await closeDetails(page);
    await row(page, 'final.txt').locator('[data-action="delete"]').click();
    await confirmDialog(page);
    await expectMessage(page, 'ok', 'Deleted');
    await row(page, 'final.txt').waitFor({ state: 'detached' });
    assert.equal(await status('/props/final.txt'), 404);
    assert.deepEqual(await heldTokens(page), {});
  });

  await step('a lock someone else took still refuses the page\'s delete (423, and by whom)', async () => {
    await put('/props/theirs.txt', 'theirs');
    const theirs = await lock('/props/theirs.txt');
    await page.reload();
    await row(page, 'theirs.txt').locator('[data-action="delete"]').click();
    await confirmDialog(page);
    await expectMessage(page, 'error', 'delete', 'locked', '423', 'lock-token-submitted', '\u201csomeone else\u201d');
    assert.equal(await text('/props/theirs.txt'), 'theirs');
    await openDetails(page, 'theirs.txt');
    assert.ok(!(await page.textContent('#details-locks li')).includes('held by this page'));
    await closeDetails(page);
    await unlock('/props/theirs.txt', theirs);
  });

  await step('a folder has details too, and a hostile lock owner is only text', async () => {
    await page.goto(url('/'));
    await openDetails(page, 'props');
    assert.ok((await page.textContent('#details-live')).includes('Folder'));
    assert.equal(await page.inputValue('#copy-dest'), '/props copy');
    assert.ok((await page.textContent('#lock-hint')).includes('Depth: infinity'));
    const owner = '<img src=x onerror=alert(3)>';
    await page.fill('#lock-owner', owner);
    await page.click('#lock-form button[type="submit"]');
    await page.locator('#details-locks li').waitFor();
    const shown = await page.textContent('#details-locks li');
    assert.ok(shown.includes(`Locked by \u201c${owner}\u201d`) && shown.includes('depth infinity'), shown);
    assert.equal(await page.locator('#details img').count(), 0);
    // A folder's lock covers what is in it.
    assert.equal((await dav('PUT', '/props/inside.txt', { body: 'x' })).status, 423);
    await closeDetails(page);
  });

  await step('in a folder the page locked, it uploads and renames with the folder\'s token', async () => {
    const [token] = await lockTokens('/props/');
    assert.equal((await heldTokens(page))['/props'], token);
    await page.goto(url('/props/'));
    await page.setInputFiles('#files', [{ name: 'inside.txt', mimeType: 'text/plain', buffer: Buffer.from('inside') }]);
    await expectMessage(page, 'ok', 'Uploaded \u201cinside.txt\u201d');
    assert.equal(await text('/props/inside.txt'), 'inside');
    await row(page, 'inside.txt').locator('[data-action="rename"]').click();
    await confirmDialog(page, { value: 'inside-renamed.txt' });
    await expectMessage(page, 'ok', 'Renamed');
    assert.equal(await status('/props/inside-renamed.txt'), 200);
    // The folder's lock is the folder's: renaming a member leaves it, and the page keeps it.
    assert.deepEqual(await lockTokens('/props/'), [token]);
    assert.equal((await heldTokens(page))['/props'], token);
    await page.goto(url('/'));
    await openDetails(page, 'props');
    await page.locator('#details-locks li button').click();
    await page.locator('#details-unlocked').waitFor();
    assert.deepEqual(await heldTokens(page), {});
    await closeDetails(page);
  });

  // The root keeps history (scripts/browser-test.sh): docs/history.md.
  await step('an earlier version is restored from the versions page', async () => {
    await mkcol('/hist/');
    await put('/hist/story.txt', 'first draft');
    await put('/hist/story.txt', 'second draft');
    await page.goto(url('/hist/'));
    await page.getByRole('link', { name: 'Earlier versions' }).click();
    await page.waitForURL(url('/.history/hist/'));
    await row(page, 'story.txt').locator('a').click();
    await page.waitForURL(url('/.history/hist/story.txt/'));
    assert.equal(await page.locator('#upload').count(), 0, 'no uploads into the history');
    assert.equal(await page.locator('[data-action="rename"]').count(), 0);
    const version = page.locator('#listing tbody tr[data-kind="file"]');
    assert.equal(await version.count(), 1);
    await version.locator('[data-action="restore"]').click();
    await confirmDialog(page);
    await expectMessage(page, 'ok', 'Restored', '/hist/story.txt');
    assert.equal(await text('/hist/story.txt'), 'first draft');
  });

  await step('a deleted file is restored from "Recently deleted"', async () => {
    await put('/hist/letter.txt', 'dear reader');
    await page.goto(url('/hist/'));
    await row(page, 'letter.txt').locator('[data-action="delete"]').click();
    await confirmDialog(page);
    await expectMessage(page, 'ok', 'Deleted');
    await page.getByRole('link', { name: 'Recently deleted' }).click();
    await page.waitForURL(url('/.history/.trash/'));
    // One folder per second with deletions, named after it: the newest sorts last.
    await page.locator('#listing tbody tr[data-kind="folder"] a').last().click();
    await row(page, 'hist').locator('a').click();
    await row(page, 'letter.txt').locator('[data-action="restore"]').click();
    await confirmDialog(page);
    await expectMessage(page, 'ok', 'Restored', '/hist/letter.txt');
    await row(page, 'letter.txt').waitFor({ state: 'detached' });
    assert.equal(await text('/hist/letter.txt'), 'dear reader');
  });

  await step('restoring over a file that is there again is refused with a clear message', async () => {
    await page.goto(url('/hist/'));
    await row(page, 'letter.txt').locator('[data-action="delete"]').click();
    await confirmDialog(page);
    await expectMessage(page, 'ok', 'Deleted');
    await put('/hist/letter.txt', 'a new letter');
    await page.goto(url('/.history/.trash/'));
    await page.locator('#listing tbody tr[data-kind="folder"] a').last().click();
    await row(page, 'hist').locator('a').click();
    await row(page, 'letter.txt').locator('[data-action="restore"]').click();
    await confirmDialog(page);
    await expectMessage(page, 'error', 'something with that name is there now');
    assert.equal(await text('/hist/letter.txt'), 'a new letter');
    await page.screenshot({ path: join(screenshots, 'browser-history.png'), fullPage: true });
  });

  await step('the hostile name never ran and no script error occurred', async () => {
    await page.goto(url('/e2e/'));
    assert.equal(await row(page, HOSTILE).locator('.name').textContent(), HOSTILE);
    await row(page, HOSTILE).locator('[data-action="rename"]').click();
    assert.equal(await page.inputValue('#dialog-input'), HOSTILE);
    await page.click('#dialog-cancel');
    assert.deepEqual(nativeDialogs, []);
    // The 4xx answers the page provoked on purpose are logged as failed loads; nothing else.
    const unexpected = pageErrors.filter((e) => !/status of 4(03|05|12|23)/.test(e));
    assert.deepEqual(unexpected, []);
  });

  await step('screenshots (desktop and phone)', async () => {
    mkdirSync(screenshots, { recursive: true });
    await mkcol('/Documents/');
    await mkcol('/Documents/Invoices/');
    await mkcol('/Documents/Photos 2024/');
    await put('/Documents/budget-2025.ods', bytes(48_213));
    await put('/Documents/meeting-notes.md', '# Monday\n\n- agenda\n');
    await put('/Documents/floor-plan.pdf', bytes(1_284_000));
    await put('/Documents/team.vcf', bytes(2_310));
    await page.goto(url('/Documents/'));
    await page.setInputFiles('#files', [
      { name: 'holiday.jpg', mimeType: 'image/jpeg', buffer: bytes(2_400_000, 3) },
      { name: 'contract-draft.docx', mimeType: 'application/octet-stream', buffer: bytes(86_000, 5) },
    ]);
    await row(page, 'holiday.jpg').waitFor();
    await expectMessage(page, 'ok', 'Uploaded 2 files.');
    await page.waitForTimeout(600); // let the bar's transition and most of the highlight finish
    await page.screenshot({ path: join(screenshots, 'browser.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 780 });
    await page.goto(url('/Documents/'));
    await page.screenshot({ path: join(screenshots, 'browser-phone.png') });
  });

  await step('screenshot of the details panel; on a phone it fills the screen', async () => {
    await proppatch('/Documents/meeting-notes.md',
      '<x:status xmlns:x="urn:example:">draft</x:status>' +
      '<x:reviewer xmlns:x="urn:example:">Grace</x:reviewer>' +
      '<x:tags xmlns:x="urn:example:"><x:tag>minutes</x:tag><x:tag>monday</x:tag></x:tags>');
    // On a phone the panel is the whole width, with nothing to scroll sideways.
    await openDetails(page, 'meeting-notes.md');
    const fit = await page.evaluate(() => {
      const panel = document.getElementById('details');
      return { width: panel.getBoundingClientRect().width, overflow: panel.scrollWidth - panel.clientWidth };
    });
    assert.equal(Math.round(fit.width), 390);
    assert.ok(fit.overflow <= 0, `the panel scrolls sideways by ${fit.overflow}px`);
    await closeDetails(page);
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.goto(url('/Documents/'));
    await openDetails(page, 'meeting-notes.md');
    await page.fill('#lock-owner', 'Grace (browser)');
    await page.click('#lock-form button[type="submit"]');
    await page.locator('#details-locks li').waitFor();
    await deadRow(page, 'reviewer').waitFor();
    await page.locator('#details-wire li').nth(1).locator('summary').click(); // the LOCK sent
    // Tall enough for the whole panel, from the top.
    const tall = await page.evaluate(() => document.getElementById('details').scrollHeight);
    await page.setViewportSize({ width: 1280, height: Math.min(Math.max(tall, 1000), 3000) });
    await page.evaluate(() => { document.getElementById('details').scrollTop = 0; });
    await page.screenshot({ path: join(screenshots, 'browser-details.png') });
    await page.locator('#details-locks li button').click();
    await page.locator('#details-unlocked').waitFor();
    await closeDetails(page);
    console.log(`     screenshots in ${screenshots}`);
  });
} catch (e) {
  const shot = join(tmpdir(), 'davd-e2e-failure.png');
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.log(`     page at failure: ${shot}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
