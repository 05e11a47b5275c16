// A real sync-collection client against davd (docs/sync.md): tsdav's syncCollection, the
// RFC 6578 report as CalDAV and CardDAV apps send it, on a plain WebDAV collection.
//
//   DAVD_URL=http://127.0.0.1:PORT/ node sync.mjs
//
// Makes /sync-client/ with two files, syncs from scratch, changes one, removes the other,
// adds a third, and syncs from the token: exactly those three must come back, the removed
// one with 404. Ends with "sync-client: passed" or an assertion error (non-zero exit).
import assert from 'node:assert/strict';
import { syncCollection } from 'tsdav';

const base = process.env.DAVD_URL;
if (!base) {
  console.error('set DAVD_URL to a running davd, e.g. http://127.0.0.1:8080/');
  process.exit(2);
}
const url = (path) => new URL(path, base).href;

async function dav(method, path, body) {
  const response = await fetch(url(path), { method, body });
  await response.arrayBuffer();
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
}

// What tsdav made of the answer: each member's href, "changed" or "removed" (tsdav gives a
// member reported with its properties the multistatus' 207, a removed one its own 404), and
// the token (tsdav keeps the multistatus' own sync-token on the raw document of every
// response).
function read(responses) {
  const members = {};
  let token;
  for (const r of responses) {
    token = token ?? r.raw?.multistatus?.syncToken;
    if (!r.href) continue;
    members[decodeURI(r.href)] = r.status === 404 ? 'removed' : 'changed';
  }
  assert.ok(token, `no sync-token in ${JSON.stringify(responses)}`);
  return { members, token };
}

async function sync(syncToken) {
  const responses = await syncCollection({
    url: url('/sync-client/'),
    props: { 'd:getetag': {} },
    syncLevel: 1,
    syncToken,
  });
  return read(responses);
}

await dav('MKCOL', '/sync-client/');
await dav('PUT', '/sync-client/keep.txt', 'one');
await dav('PUT', '/sync-client/gone.txt', 'two');
await dav('PUT', '/sync-client/same.txt', 'unchanged');

const first = await sync(undefined);
assert.deepEqual(Object.keys(first.members).sort(), [
  '/sync-client/gone.txt',
  '/sync-client/keep.txt',
  '/sync-client/same.txt',
]);

await dav('PUT', '/sync-client/keep.txt', 'one, changed');
await dav('DELETE', '/sync-client/gone.txt');
await dav('PUT', '/sync-client/new café.txt', 'three');

const next = await sync(first.token);
assert.deepEqual(next.members, {
  '/sync-client/gone.txt': 'removed',
  '/sync-client/keep.txt': 'changed',
  '/sync-client/new café.txt': 'changed',
});
assert.notEqual(next.token, first.token);

const none = await sync(next.token);
assert.deepEqual(none.members, {});
console.log('sync-client: passed');
