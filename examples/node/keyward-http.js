'use strict';
// A client for keywardd's HTTP/JSON API on its Unix socket, using only node's `http` module.
//
// The routes and JSON fields are those of README.md's "HTTP API" section.
// One keep-alive agent reuses its connection between requests.
// Node's standard library cannot read the daemon's uid (SO_PEERCRED), so this client trusts the
// socket's path: use a socket in a directory only the daemon's user can write to (see README.md,
// "The socket's directory").

const http = require('http');

/** The HTTP socket of a daemon started as root; KEYWARD_HTTP_SOCKET overrides it. */
const DEFAULT_SOCKET = '/run/keyward/http.sock';

/** Milliseconds any one request may take before it is given up. */
const TIMEOUT_MS = 10000;

/** An answer the daemon gave with an error status: its status, code and message. */
class KeywardError extends Error {
  constructor(status, code, message) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

/** keywardd's HTTP API: `call` sends one request and resolves to `{status, body}`. */
class Keyward {
  constructor({ socketPath, adminKey } = {}) {
    this.socketPath = socketPath || process.env.KEYWARD_HTTP_SOCKET || DEFAULT_SOCKET;
    this.adminKey = adminKey;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /** Sends `body` (an object, as JSON); rejects with KeywardError on a 4xx or 5xx answer. */
  call(method, path, body, { admin = false } = {}) {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = {};
    if (data) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = data.length;
    }
    if (admin) headers.Authorization = `Bearer ${this.adminKey}`;
    return new Promise((resolve, reject) => {
      const req = http.request(
        { socketPath: this.socketPath, agent: this.agent, method, path, headers, timeout: TIMEOUT_MS },
        (res) => {
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            let payload = {};
            try {
              const text = Buffer.concat(chunks).toString();
              if (text) payload = JSON.parse(text);
            } catch (e) {
              reject(e);
              return;
            }
            if (res.statusCode >= 400) {
              const error = payload.error || {};
              reject(new KeywardError(res.statusCode, error.code, error.message));
            } else {
              resolve({ status: res.statusCode, body: payload });
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in time`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  close() {
    this.agent.destroy();
  }

  /** POST /v1/clients: a new client and its first session. */
  createClient({ label, scopes } = {}) {
    return this.call('POST', '/v1/clients', { label, scopes }, { admin: true });
  }

  /** POST /v1/clients/{id}/sessions: a fresh session for a client (a refresh). */
  issueSession(clientId) {
    return this.call('POST', `/v1/clients/${clientId}/sessions`, undefined, { admin: true });
  }

  /** POST /v1/api-tokens: a token for a service, with scopes such as {catalog: 'read'}. */
  createApiToken({ name, scopes, expiresIn } = {}) {
    const body = { name, scopes, expires_in: expiresIn };
    return this.call('POST', '/v1/api-tokens', body, { admin: true });
  }

  /** POST /v1/verify: who a token stands for, if it meets the requirements given. */
  verify(token, { env, kinds, scope, level } = {}) {
    return this.call('POST', '/v1/verify', { token, env, kinds, scope, level });
  }

  /** POST /v1/logout: ends the credential the token stands for. */
  logout(token) {
    return this.call('POST', '/v1/logout', { token });
  }
}

module.exports = { Keyward, KeywardError, DEFAULT_SOCKET };
