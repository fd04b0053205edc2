#!/usr/bin/env node
// Usage: node search.js ADDRESS COLLECTION (IMAGE_FILE | --text TEXT) [TOP_K]
// Prints one JSON object per hit ({name, item_id, metadata, nsfw_score, score, similarity,
// rank}); on error prints "error: <code> <details>" and exits 2. See imagesearch.js for where
// the google/api .proto files are found (IMAGESEARCH_PROTO_PATH).
'use strict';

const fs = require('fs');
const { connect, search, searchText } = require('./imagesearch');

const USAGE = 'usage: search.js ADDRESS COLLECTION (IMAGE_FILE | --text TEXT) [TOP_K]';

function parseArgs(argv) {
  const [address, collection, ...rest] = argv;
  const text = rest[0] === '--text' ? rest[1] : undefined;
  const imageFile = text === undefined ? rest[0] : undefined;
  const topK = rest[text === undefined ? 1 : 2];
  if (!address || !collection || (text === undefined && !imageFile)) return null;
  return { address, collection, text, imageFile, topK: topK ? Number(topK) : 10 };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    console.error(USAGE);
    process.exit(64);
  }
  let client;
  try {
    client = connect(args.address);
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
