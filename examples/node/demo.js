#!/usr/bin/env node
'use strict';
// The wallet backend's flow against a running keywardd, over its HTTP/JSON API.
//
// Creates a client, verifies its session with the environment pinned to live, refreshes it,
// then creates an API token and checks its scope: one level allowed, one refused with 403.
// Needs a live admin key in KEYWARD_ADMIN_KEY; KEYWARD_HTTP_SOCKET names the socket
// (default /run/keyward/http.sock).
// Prints each step, never a token; exits 1 on any unexpected answer, 2 when misconfigured.

const { Keyward, KeywardError } = require('./keyward-http');

/** The daemon answered, but not what the flow expects. */
class Unexpected extends Error {}

function expect(what, got, want) {
  if (got !== want) throw new Unexpected(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

async function run(kw) {
  let reply = await kw.createClient({ label: 'demo', scopes: { 'catalog-a': 'read' } });
  expect('client create status', reply.status, 201);
  const clientId = reply.body.client_id;
  const session = reply.body.session;
  console.log(`created client ${clientId} with session ${session.id}`);

  reply = await kw.verify(session.token, { env: 'live', kinds: ['session'] });
  expect('verify status', reply.status, 200);
  expect('verified principal', reply.body.principal_id, clientId);
  expect('verified env', reply.body.env, 'live');
  expect('verified credential', reply.body.credential_id, session.id);
  console.log(`verified session ${session.id}: principal ${clientId}, env live`);

  reply = await kw.issueSession(clientId);
  expect('session issue status', reply.status, 201);
  const fresh = reply.body;
  reply = await kw.verify(fresh.token, { env: 'live' });
  expect('verified refreshed credential', reply.body.credential_id, fresh.id);
  console.log(`refreshed client ${clientId}: new session ${fresh.id} verifies`);

  reply = await kw.createApiToken({ name: 'demo-service', scopes: { 'catalog-a': 'read' }, expiresIn: '1d' });
  expect('api-token create status', reply.status, 201);
  const api = reply.body;
  console.log(`created API token ${api.id} with scope catalog-a=read`);

  reply = await kw.verify(api.token, { scope: 'catalog-a', level: 'read' });
  expect('verify scope status', reply.status, 200);
  expect('verified kind', reply.body.kind, 'api_token');
  console.log('scope catalog-a=read: allowed');

  try {
    await kw.verify(api.token, { scope: 'catalog-a', level: 'write' });
  } catch (refused) {
    if (!(refused instanceof KeywardError)) throw refused;
    expect('scope refusal status', refused.status, 403);
    expect('scope refusal code', refused.code, 'FORBIDDEN');
    console.log(`scope catalog-a=write: refused (${refused.status} ${refused.code})`);
    return;
  }
  throw new Unexpected('a read-only token was allowed to write');
}

async function main() {
  const adminKey = process.env.KEYWARD_ADMIN_KEY;
  if (!adminKey) {
    console.error('demo: set KEYWARD_ADMIN_KEY to a live admin key');
    return 2;
  }
  const kw = new Keyward({ adminKey });
  try {
    await run(kw);
  } catch (failure) {
    // Messages name statuses, codes and fields, never a token.
    console.error(`demo: ${failure.constructor.name}: ${failure.message}`);
    return 1;
  } finally {
    kw.close();
  }
  console.log('done');
  return 0;
}

main().then((code) => { process.exitCode = code; });
