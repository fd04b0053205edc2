#!/usr/bin/env node
// Usage: node search.js [--ca FILE] [--cert FILE --key FILE] [--tls]
//                       ADDRESS COLLECTION (IMAGE_FILE | --text TEXT) [TOP_K]
// Prints one JSON object per hit ({name, item_id, metadata, nsfw_score, score, similarity,
// rank}); on error prints "error: <code> <details>" and exits 2. The API key comes from
// IMAGESEARCH_API_KEY (an environment variable, so that it does not show in ps). --ca is the
// CA that signed the server's certificate (TLS); --cert/--key, this client's certificate
// (mutual TLS); --tls alone trusts Node's CAs. See imagesearch.js for where the google/api
// .proto files are found (IMAGESEARCH_PROTO_PATH).
'use strict';

const fs = require('fs');
const { connect, search, searchText } = require('./imagesearch');

const USAGE = 'usage: search.js [--ca FILE] [--cert FILE --key FILE] [--tls] '
  + 'ADDRESS COLLECTION (IMAGE_FILE | --text TEXT) [TOP_K]';

/** Takes the leading TLS options off argv; returns {tls, ca, cert, key} and the rest. */
function parseTls(argv) {
  const tls = {};
  let i = 0;
  while (i < argv.length && ['--ca', '--cert', '--key', '--tls'].includes(argv[i])) {
    if (argv[i] === '--tls') {
      tls.tls = true;
      i += 1;
    } else {
      tls[argv[i].slice(2)] = argv[i + 1];
      i += 2;
    }
  }
  return [tls, argv.slice(i)];
}

function parseArgs(argv) {
  const [address, collection, ...rest] = argv;
  const text = rest[0] === '--text' ? rest[1] : undefined;
  const imageFile = text === undefined ? rest[0] : undefined;
  const topK = rest[text === undefined ? 1 : 2];
  if (!address || !collection || (text === undefined && !imageFile)) return null;
  return { address, collection, text, imageFile, topK: topK ? Number(topK) : 10 };
}

async function main() {
  const [tls, positional] = parseTls(process.argv.slice(2));
  const args = parseArgs(positional);
  if (!args) {
    console.error(USAGE);
    process.exit(64);
  }
  let client;
  try {
    client = connect(args.address, { ...tls, apiKey: process.env.IMAGESEARCH_API_KEY });
  } catch (err) {
    console.error(`error: ${err.message}`);
    process.exit(1);
  }
  try {
    const hits = args.text === undefined
      ? await search(client, args.collection, fs.readFileSync(args.imageFile), { topK: args.topK })
      : await searchText(client, args.collection, args.text, { topK: args.topK });
    for (const hit of hits) console.log(JSON.stringify(hit));
  } catch (err) {
    console.error(`error: ${err.code} ${err.details}`);
    process.exitCode = 2;
  } finally {
    client.close();
  }
}

main();
