// Node.js client for imagesearch.v1, built from the repository's .proto files at run time
// (no generated code to keep in sync).
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'protos');
const MAX_MESSAGE_BYTES = 32 * 1024 * 1024; // the server's default limit

/** Loads imagesearch.v1 and returns the generated package object. */
function loadApi() {
  const definition = protoLoader.loadSync('imagesearch/v1/imagesearch.proto', {
    includeDirs: [PROTO_ROOT],
    keepCase: true, // field names as in the .proto (top_k, min_score)
    longs: Number,
    defaults: false,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).imagesearch.v1;
}

/** A connected ImageSearch client for `address` (host:port, plaintext). */
function connect(address) {
  const api = loadApi();
  return new api.ImageSearch(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  });
}

/** Plain JS object from a google.protobuf.Struct message. */
function structToObject(struct) {
  const value = (v) => {
    if (v.kind === 'structValue' || v.structValue) return structToObject(v.structValue);
    if (v.kind === 'listValue' || v.listValue) return (v.listValue.values || []).map(value);
    if ('numberValue' in v) return v.numberValue;
    if ('stringValue' in v) return v.stringValue;
    if ('boolValue' in v) return v.boolValue;
    return null;
  };
  const out = {};
  for (const [key, v] of Object.entries((struct && struct.fields) || {})) out[key] = value(v);
  return out;
}

/**
 * Searches `collection` with an encoded image; resolves to the hits, best first.
 * Rejects with the gRPC error (err.code, err.details) on failure.
 */
function search(client, collection, image, { topK = 10, minScore, deadlineMs = 30000 } = {}) {
  const request = { collection, image, top_k: topK };
  if (minScore !== undefined) request.min_score = minScore;
  return new Promise((resolve, reject) => {
    const hits = [];
    const call = client.Search(request, { deadline: Date.now() + deadlineMs });
    call.on('data', (hit) => hits.push({ id: hit.id, score: hit.score, rank: hit.rank, metadata: structToObject(hit.metadata) }));
    call.on('error', reject);
    call.on('end', () => resolve(hits));
  });
}

module.exports = { connect, loadApi, search, structToObject };
