// Node.js client for imagesearch.v1 (service imagesearch.v1.ImageSearchService), built from
// the repository's .proto files at run time (no generated code to keep in sync).
//
// imagesearch.proto imports google/api/*.proto and google/rpc/status.proto, which are not
// in this repository: they come from the googleapis-common-protos Python package that
// `make install` puts in .venv. Where to find them, first match wins:
//   1. the `includeDirs` option of connect()/loadApi();
//   2. IMAGESEARCH_PROTO_PATH, folders separated by ':' (';' on Windows), each holding
//      google/api/annotations.proto (e.g. the site-packages folder of a Python environment
//      with googleapis-common-protos);
//   3. the repository's .venv (lib/python3.*/site-packages).
// protobufjs ships the google/protobuf well-known types itself.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const PROTO_ROOT = path.join(REPO_ROOT, 'protos');
const GOOGLEAPIS_MARKER = path.join('google', 'api', 'annotations.proto');
const MAX_MESSAGE_BYTES = 32 * 1024 * 1024; // the server's default limit

/** The folders holding google/api/*.proto, by the order of precedence above; throws if none. */
function googleapisDirs(includeDirs) {
  if (includeDirs && includeDirs.length) return includeDirs;
  const fromEnv = (process.env.IMAGESEARCH_PROTO_PATH || '').split(path.delimiter).filter(Boolean);
  if (fromEnv.length) {
    const missing = fromEnv.filter((dir) => !fs.existsSync(path.join(dir, GOOGLEAPIS_MARKER)));
    if (missing.length) {
      throw new Error(`IMAGESEARCH_PROTO_PATH: no ${GOOGLEAPIS_MARKER} in ${missing.join(', ')}`);
    }
    return fromEnv;
  }
  const venvLib = path.join(REPO_ROOT, '.venv', 'lib');
  const sitePackages = fs.existsSync(venvLib)
    ? fs.readdirSync(venvLib).map((d) => path.join(venvLib, d, 'site-packages'))
    : [];
  const found = sitePackages.filter((dir) => fs.existsSync(path.join(dir, GOOGLEAPIS_MARKER)));
  if (!found.length) {
    throw new Error(
      `cannot find ${GOOGLEAPIS_MARKER}: run \`make install\`, or set IMAGESEARCH_PROTO_PATH to a folder ` +
        'holding it (the site-packages of a Python environment with googleapis-common-protos)',
    );
  }
  return found.slice(0, 1);
}

/** Loads imagesearch.v1 and returns the generated package object. */
function loadApi({ includeDirs } = {}) {
  // Both services: ImageSearchService (connect) and ImageSearchAdminService (connectAdmin).
  const definition = protoLoader.loadSync(['imagesearch/v1/imagesearch.proto', 'imagesearch/v1/admin.proto'], {
    includeDirs: [PROTO_ROOT, ...googleapisDirs(includeDirs)],
    keepCase: true, // field names as in the .proto (top_k, item_id)
    longs: Number,
    defaults: false,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).imagesearch.v1;
}

/** PEM bytes from a Buffer or a file path (undefined stays undefined). */
function pem(value) {
  if (value === undefined || value === null || value === '') return undefined;
  return Buffer.isBuffer(value) ? value : fs.readFileSync(value);
}

/**
 * Channel credentials: plaintext, or TLS when any of tls/ca/cert/key is given. `ca`: the
 * CA(s) that signed the server's certificate (PEM Buffer or file; default: Node's roots);
 * `cert` + `key`: this client's certificate, for a server with mutual TLS.
 */
function channelCredentials({ tls = false, ca, cert, key } = {}) {
  if (!tls && !ca && !cert && !key) return grpc.credentials.createInsecure();
  if (Boolean(cert) !== Boolean(key)) throw new Error('give cert and key together (the client certificate and its key)');
  return grpc.credentials.createSsl(pem(ca) || null, pem(key) || null, pem(cert) || null);
}

/** A client interceptor adding `authorization: Bearer <apiKey>` to every call's metadata. */
function apiKeyInterceptor(apiKey) {
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('authorization', `Bearer ${apiKey}`);
      next(metadata, listener);
    },
  });
}

/**
 * A connected ImageSearchService client for `address` (host:port). Options: `apiKey`
 * (sent as `authorization: Bearer` metadata, docs/security.md); `tls`, `ca`, `cert`, `key`
 * (see channelCredentials); `serverName` (the name to check the server's certificate
 * against when the address's host is not in it); `includeDirs` (see the top of this file).
 */
function connect(address, options = {}) {
  return serviceClient('ImageSearchService', address, options);
}

/** A client of ImageSearchAdminService (snapshots, aliases, re-processing, API keys:
 * docs/operations.md), with the same options as connect(). */
function connectAdmin(address, options = {}) {
  return serviceClient('ImageSearchAdminService', address, options);
}

function serviceClient(service, address, { includeDirs, apiKey, tls, ca, cert, key, serverName } = {}) {
  const api = loadApi({ includeDirs });
  const options = {
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  };
  if (serverName) options['grpc.ssl_target_name_override'] = serverName;
  if (apiKey) options.interceptors = [apiKeyInterceptor(apiKey)];
  return new api[service](address, channelCredentials({ tls, ca, cert, key }), options);
}

/** RFC 3986 percent-encoding of an item ID, as resource names need ("a/b c" -> "a%2Fb%20c"). */
function encodeItemId(itemId) {
  // encodeURIComponent leaves !'()* alone; the API encodes everything but A-Z a-z 0-9 - . _ ~.
  return encodeURIComponent(itemId).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** "collections/{collection}". */
function collectionName(collectionId) {
  return `collections/${collectionId}`;
}

/** "collections/{collection}/items/{item}", the item ID percent-encoded. */
function itemName(collectionId, itemId) {
  return `${collectionName(collectionId)}/items/${encodeItemId(itemId)}`;
}

/** Plain JS value from a google.protobuf.Value message (as proto-loader decodes it). */
function valueToJs(v) {
  switch (v.kind) {
    case 'structValue': return structToObject(v.structValue);
    case 'listValue': return (v.listValue.values || []).map(valueToJs);
    case 'numberValue': return v.numberValue;
    case 'stringValue': return v.stringValue;
    case 'boolValue': return v.boolValue;
    default: return null;
  }
}

/** Plain JS object from a google.protobuf.Struct message. */
function structToObject(struct) {
  const out = {};
  for (const [key, v] of Object.entries((struct && struct.fields) || {})) out[key] = valueToJs(v);
  return out;
}

/** google.protobuf.Value message from a plain JS value (JSON-like: no undefined, functions). */
function jsToValue(x) {
  if (x === null) return { nullValue: 'NULL_VALUE' };
  if (Array.isArray(x)) return { listValue: { values: x.map(jsToValue) } };
  if (typeof x === 'object') return { structValue: objectToStruct(x) };
  if (typeof x === 'number') return { numberValue: x };
  if (typeof x === 'boolean') return { boolValue: x };
  return { stringValue: String(x) };
}

/** google.protobuf.Struct message from a plain JS object. */
function objectToStruct(obj) {
  const fields = {};
  for (const [key, x] of Object.entries(obj || {})) fields[key] = jsToValue(x);
  return { fields };
}

/** Plain JS form of an Item message. */
function itemToJs(item) {
  const out = { name: item.name, item_id: item.item_id, metadata: structToObject(item.metadata) };
  if (item.nsfw_score !== undefined && item.nsfw_score !== null) out.nsfw_score = item.nsfw_score;
  return out;
}

/** Calls a unary method; resolves to the response. */
function unary(client, method, request, deadlineMs) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + deadlineMs }, (err, response) =>
      (err ? reject(err) : resolve(response)));
  });
}

/** Creates an empty collection; resolves to the Collection message. */
function createCollection(client, collectionId, { modelSet = '', deadlineMs = 30000 } = {}) {
  return unary(client, 'CreateCollection', { collection_id: collectionId, collection: { model_set: modelSet } },
    deadlineMs);
}

/** Stores an encoded image (a Buffer) as an item; resolves to the stored item (itemToJs). */
async function createItem(client, collectionId, image, { itemId = '', metadata = {}, deadlineMs = 30000 } = {}) {
  const request = {
    parent: collectionName(collectionId),
    item_id: itemId,
    image: { content: image },
    item: { metadata: objectToStruct(metadata) },
  };
  return itemToJs(await unary(client, 'CreateItem', request, deadlineMs));
}

/** Runs SearchItems with a query ({image: {content}}, {text} or {item}); resolves to the hits. */
function searchItems(client, collectionId, query, { topK = 10, minScore, deadlineMs = 30000 } = {}) {
  const request = { parent: collectionName(collectionId), ...query, top_k: topK };
  if (minScore !== undefined) request.min_score = minScore;
  return new Promise((resolve, reject) => {
    const hits = [];
    const call = client.SearchItems(request, { deadline: Date.now() + deadlineMs });
    call.on('data', (hit) => hits.push({
      ...itemToJs(hit.item), score: hit.score, similarity: hit.similarity, rank: hit.rank,
    }));
    call.on('error', reject);
    call.on('end', () => resolve(hits));
  });
}

/**
 * Searches `collectionId` with an encoded image (a Buffer); resolves to the hits, best first,
 * each {name, item_id, metadata, nsfw_score?, score, similarity, rank}.
 * Rejects with the gRPC error (err.code, err.details) on failure.
 */
function search(client, collectionId, image, options = {}) {
  return searchItems(client, collectionId, { image: { content: image } }, options);
}

/** Searches `collectionId` by a text description; hits as search()'s. */
function searchText(client, collectionId, text, options = {}) {
  return searchItems(client, collectionId, { text }, options);
}

module.exports = {
  channelCredentials,
  collectionName,
  connect,
  connectAdmin,
  createCollection,
  createItem,
  encodeItemId,
  itemName,
  loadApi,
  objectToStruct,
  search,
  searchText,
  structToObject,
  unary,
};
