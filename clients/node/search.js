#!/usr/bin/env node
// Usage: node search.js ADDRESS COLLECTION IMAGE_FILE [TOP_K]
// Prints one JSON object per hit; on error prints the status and exits 2.
'use strict';

const fs = require('fs');
const { connect, search } = require('./imagesearch');

async function main() {
  const [address, collection, imageFile, topK] = process.argv.slice(2);
  if (!imageFile) {
    console.error('usage: search.js ADDRESS COLLECTION IMAGE_FILE [TOP_K]');
    process.exit(64);
  }
  const client = connect(address);
  try {
    const hits = await search(client, collection, fs.readFileSync(imageFile), { topK: topK ? Number(topK) : 10 });
    for (const hit of hits) console.log(JSON.stringify(hit));
  } catch (err) {
    console.error(`error: ${err.code} ${err.details}`);
    process.exitCode = 2;
  } finally {
    client.close();
  }
}

main();
