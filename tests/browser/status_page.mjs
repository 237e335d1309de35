// SPDX-License-Identifier: Apache-2.0
// Drives the status page in Debian's headless Chromium (Playwright, never a
// downloaded browser) and prints what it saw as one JSON document:
//
//   node status_page.mjs URL OUTDIR
//
// It loads URL, reads the jobs and accounts tables and the health, probes for script execution (the
// page on `window`, dialogs, script/img elements inside the tables), saves
// a full-page screenshot to OUTDIR/status_page.png and measures it (PNG
// size, dimensions, distinct colours), follows the "completed" filter link,
// submits the filter form for "processing", asks for an unknown status,
// and waits for the page to refresh itself. The caller
// (test_status_page.py) checks the observations against the jobs it set up.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

const [url, outdir] = process.argv.slice(2);
if (!url || !outdir) {
  console.error('usage: node status_page.mjs URL OUTDIR');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// Decodes an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes):
// returns width, height and the number of distinct colours.
function measurePng(buffer) {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!buffer.subarray(0, 8).equals(signature)) throw new Error('not a PNG');
  let width = 0, height = 0, bitDepth = 0, colourType = 0, interlace = 0;
  const idat = [];
  for (let at = 8; at < buffer.length;) {
    const length = buffer.readUInt32BE(at);
    const type = buffer.toString('latin1', at + 4, at + 8);
    const data = buffer.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bitDepth = data[8];
      colourType = data[9];
      interlace = data[12];
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    at += 12 + length;
  }
  if (bitDepth !== 8 || (colourType !== 2 && colourType !== 6) || interlace !== 0) {
    throw new Error(`unexpected PNG format: depth ${bitDepth} colour ${colourType}`);
  }
  const bpp = colourType === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; ++y) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : Buffer.alloc(stride);
    for (let x = 0; x < stride; ++x) {
      const a = x >= bpp ? out[x - bpp] : 0;
      const b = prev[x];
      const c = x >= bpp ? prev[x - bpp] : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter}`);
      out[x] = (line[x] + predictor) & 0xff;
    }
  }
  const colours = new Set();
  for (let i = 0; i < pixels.length; i += bpp) {
    colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
  }
  return { width, height, distinctColours: colours.size };
}

// Everything read from one page, in one synchronous evaluation (so the
// page's own refresh cannot come between two reads).
async function readPage(page) {
  return page.evaluate(() => {
    const cellsOf = (row) => [...row.querySelectorAll('td')].map((td) => td.textContent);
    return {
      title: document.title,
      rows: [...document.querySelectorAll('#job-table tbody tr')].map((row) => {
        const cells = cellsOf(row);
        return { id: cells[0], status: cells[1], type: cells[2], pdfName: cells[3] };
      }),
      failedHooks: [...document.querySelectorAll('#failed-hook-table tbody tr')].map(cellsOf),
      accounts: [...document.querySelectorAll('#account-table tbody tr')].map(cellsOf),
      health: document.querySelector('#health')?.textContent ?? null,
      problems: [...document.querySelectorAll('#problems li')].map((li) => li.textContent),
      transitions: document.querySelectorAll('#transition-table tbody tr').length,
      summary: document.querySelector('#summary').innerText,
      probe: {
        xss: typeof window.__xss === 'undefined' ? null : window.__xss,
        injectedElements: document.querySelectorAll('table script, table img, body img').length,
        scripts: document.scripts.length,
      },
    };
  });
}

const seen = { dialogs: [] };
const consoleErrors = [];
const browser = await chromium.launch({
  executablePath,
  headless: true,
  // Chromium refuses to run as root without this (CI containers).
  args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('dialog', async (dialog) => {
    seen.dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });

  const started = Date.now();
  const response = await page.goto(url, { waitUntil: 'load' });
  seen.status = response.status();
  seen.headers = response.headers();
  Object.assign(seen, await readPage(page));

  fs.mkdirSync(outdir, { recursive: true });
  const shot = path.join(outdir, 'status_page.png');
  const png = await page.screenshot({ path: shot, fullPage: true });
  seen.screenshot = { path: shot, bytes: png.length, ...measurePng(png) };

  // The filter, as an operator uses it: a link, then the form.
  await Promise.all([page.waitForURL(/status=completed/),
    page.click('nav.filter a[data-status="completed"]')]);
  seen.linkUrl = page.url();
  const linked = await readPage(page);
  seen.linkRows = linked.rows;
  seen.linkProbe = linked.probe;
  await page.selectOption('select[name="status"]', 'processing');
  await Promise.all([page.waitForURL(/status=processing/), page.click('form button')]);
  seen.formUrl = page.url();
  seen.formRows = (await readPage(page)).rows;

  // It refreshes itself (meta refresh), staying on the filtered view.
  const refreshedAt = Date.now();
  await page.waitForEvent('load', { timeout: 30000 });
  seen.refresh = { url: page.url(), afterMs: Date.now() - refreshedAt };
  seen.consoleErrors = [...consoleErrors];  // the 400 below logs one, as it should

  const bad = await page.goto(new URL('/?status=bogus', url).href);
  seen.bogus = { status: bad.status(), text: await page.textContent('#error') };
  seen.elapsedMs = Date.now() - started;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
