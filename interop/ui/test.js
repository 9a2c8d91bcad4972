// The web UI in headless Chromium (run by interop/ui.sh, which starts warrend and the AMQP
// clients and sets UI_HTTP, UI_SHOTS, UI_NODE_MODULES and CHROMIUM). Each page is loaded at
// 1280x800 and must show what the API says, with no console error, no failed request, no
// unexpected HTTP error and no horizontal scrolling; the actions (publish, get, purge, delete,
// bind, close a connection, log out) are checked through the API. A screenshot of each page
// goes to UI_SHOTS.
'use strict';
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { chromium } = require(path.join(process.env.UI_NODE_MODULES, 'playwright-core'));

const BASE = `http://${process.env.UI_HTTP}`;
const SHOTS = process.env.UI_SHOTS;
const AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
const WAIT_MS = 10000; // for the page to show a change (it refreshes every 5 s)
const XSS = '<img src=x onerror=alert(1)>';
const NQUEUES = 25;
const qname = (i) => `ui.q${String(i).padStart(2, '0')}`;

setTimeout(() => {
	console.error('ui: FAIL: the test took over 100 s');
	process.exit(1);
}, 100000).unref();

let checks = 0;
function ok(cond, what) {
	if (!cond) throw new Error(what);
	checks++;
}
function eq(got, want, what) {
	if (JSON.stringify(got) !== JSON.stringify(want))
		throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
	checks++;
}

async function api(method, p, body, headers = {}) {
	const res = await fetch(`${BASE}/api${p}`, {
		method,
		headers: { Authorization: AUTH, 'Content-Type': 'application/json', ...headers },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	return { status: res.status, json: text ? JSON.parse(text) : null };
}
async function apiOk(method, p, body) {
	const r = await api(method, p, body);
	if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.json)}`);
	return r.json;
}
const enc = encodeURIComponent;

// Poll fn until it returns a truthy value (or fail after WAIT_MS).
async function until(fn, what) {
	const end = Date.now() + WAIT_MS;
	let last;
	for (;;) {
		last = await fn();
		if (last) return last;
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

// One request written as is (no URL normalisation: a path with '..' reaches the server as sent);
// resolves to {status, headers (lower-case names), body} once the server closes.
function raw(method, target, headers = '') {
	const [host, port] = process.env.UI_HTTP.split(':');
	return new Promise((resolve, reject) => {
		const s = net.connect(Number(port), host);
		const chunks = [];
		s.setTimeout(WAIT_MS, () => s.destroy(new Error(`no answer to ${method} ${target}`)));
		s.on('connect', () => s.write(`${method} ${target} HTTP/1.1\r\nHost: ui\r\nConnection: close\r\n${headers}\r\n`));
		s.on('data', (d) => chunks.push(d));
		s.on('error', reject);
		s.on('end', () => {
			const all = Buffer.concat(chunks).toString('latin1');
			const cut = all.indexOf('\r\n\r\n');
			const lines = all.slice(0, cut).split('\r\n');
			const hs = {};
			for (const l of lines.slice(1)) {
				const i = l.indexOf(':');
				hs[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
			}
			resolve({ status: Number(lines[0].split(' ')[1]), headers: hs, body: all.slice(cut + 4) });
		});
	});
}

// The UI's files over plain HTTP: types, caching, and nothing but them.
async function staticFiles() {
	const types = { '/': 'text/html; charset=utf-8', '/index.html': 'text/html; charset=utf-8',
		'/js/app.js': 'text/javascript; charset=utf-8', '/css/warren.css': 'text/css; charset=utf-8',
		'/favicon.svg': 'image/svg+xml', '/index.html?v=2': 'text/html; charset=utf-8' };
	for (const [p, type] of Object.entries(types)) {
		const r = await raw('GET', p);
		eq([r.status, r.headers['content-type']], [200, type], `GET ${p}`);
		ok(r.headers.etag && r.headers['cache-control'] === 'no-cache', `${p}: ETag and Cache-Control`);
		ok(r.headers['x-content-type-options'] === 'nosniff' && /script-src 'self'/.test(r.headers['content-security-policy']),
			`${p}: nosniff and a Content-Security-Policy`);
		eq(Number(r.headers['content-length']), Buffer.byteLength(r.body, 'latin1'), `${p}: Content-Length`);
		const again = await raw('GET', p, `If-None-Match: ${r.headers.etag}\r\n`);
		eq([again.status, again.body], [304, ''], `${p} again with its ETag`);
	}
	const head = await raw('HEAD', '/js/app.js');
	const full = await raw('GET', '/js/app.js');
	eq([head.status, head.body, head.headers['content-length']], [200, '', full.headers['content-length']],
		'HEAD: no body, the length of the GET');
	for (const p of ['/../etc/passwd', '/js/../../etc/passwd', '/%2e%2e/etc/passwd', '/js/..%2fapp.js',
		'/js/%2e%2e/index.html', '//etc/passwd', '/js/', '/js', '/css', '/index.html%00', '/index.html/',
		'/nope.html', '/.git/config', '/js/app.js%3f/../../etc/passwd']) {
		const r = await raw('GET', p);
		eq([r.status, r.headers['content-type']], [404, 'application/json'], `GET ${p} is not served`);
		eq(JSON.parse(r.body), { error: 'Object Not Found', reason: 'Not Found' }, `GET ${p}: RabbitMQ's error shape`);
	}
	const post = await raw('POST', '/index.html', 'Content-Length: 0\r\n');
	eq([post.status, post.headers.allow], [405, 'GET, HEAD'], 'POST to a UI file');
	const xhr = await raw('GET', '/api/whoami', 'X-Requested-With: XMLHttpRequest\r\n');
	eq([xhr.status, xhr.headers['www-authenticate']], [401, undefined], "a script's 401 does not ask the browser for a login");
	const plain = await raw('GET', '/api/whoami');
	eq([plain.status, plain.headers['www-authenticate']], [401, 'Basic realm="RabbitMQ Management"'], 'other 401s do');
}

async function main() {
	await staticFiles();
	// What the pages will show: queues (one of them holding 5 messages), an exchange bound to it,
	// and a queue whose name is markup.
	for (let i = 1; i <= NQUEUES; i++) await apiOk('PUT', `/queues/%2F/${qname(i)}`, { durable: false });
	await apiOk('PUT', `/queues/%2F/${enc(XSS)}`, { durable: false });
	await apiOk('PUT', '/exchanges/%2F/ui.x', { type: 'topic', durable: false });
	await apiOk('POST', `/bindings/%2F/e/ui.x/q/${qname(1)}`, { routing_key: 'ui.#' });
	for (let i = 1; i <= 5; i++)
		await apiOk('POST', '/exchanges/%2F/amq.default/publish',
			{ properties: {}, routing_key: qname(1), payload: `m${i}`, payload_encoding: 'string' });

	const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, headless: true });
	const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
	const page = await ctx.newPage();
	page.setDefaultTimeout(WAIT_MS);

	// Responses the test expects to fail: [url pattern, status].
	let allowed = [];
	const expected = (url, status) => allowed.some(([re, s]) => re.test(url) && s === status);
	const problems = [];
	page.on('console', (m) => {
		if (m.type() !== 'error') return;
		const url = m.location().url || '';
		const st = /status of (\d+)/.exec(m.text());
		if (st && expected(url, Number(st[1]))) return;
		problems.push(`console error: ${m.text()} (${url})`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}: ${r.failure().errorText}`));
	page.on('response', (r) => {
		if (r.status() >= 400 && !expected(r.url(), r.status()))
			problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
	});
	page.on('dialog', async (d) => {
		if (d.type() === 'confirm') await d.accept();
		else {
			problems.push(`unexpected ${d.type()} dialog: ${d.message()}`);
			await d.dismiss();
		}
	});
	const clean = async (where) => {
		if (problems.length) throw new Error(`${where}: ${problems.join('; ')}`);
		const w = await page.evaluate(() => document.documentElement.scrollWidth);
		ok(w <= 1280, `${where}: the page is ${w} px wide at 1280x800`);
	};
	// From the top, so that each shows the menu; full: the whole page (what it shows is lower).
	const shot = async (name, full = false) => {
		await page.evaluate(() => window.scrollTo(0, 0));
		await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: full });
	};
	const go = async (hash) => {
		await page.goto(`${BASE}/${hash}`);
	};
	const text = (sel) => page.locator(sel).first().innerText();
	const colTexts = (table, col) => page.$$eval(`${table} tbody tr td:nth-child(${col})`, (tds) => tds.map((t) => t.textContent));
	const waitText = async (sel, want, what) => {
		await until(async () => (await page.locator(sel).count()) > 0 && (await text(sel)).trim() === String(want), `${what}: ${sel} = ${want}`);
		checks++;
	};

	// Login: a wrong password is refused in the form (the browser's own dialog never shows, the
	// 401 has no WWW-Authenticate), then the right one by keyboard alone.
	await go('');
	await page.locator('#login').waitFor();
	allowed = [[/\/api\/whoami$/, 401]];
	await page.fill('#login-user', 'guest');
	await page.fill('#login-pass', 'wrong');
	await page.press('#login-pass', 'Enter');
	await page.locator('#login-error').waitFor();
	ok((await text('#login-error')).includes('Login failed'), 'a wrong password shows "Login failed"');
	allowed = [];
	await page.focus('#login-user');
	await page.keyboard.press('Control+A');
	await page.keyboard.type('guest');
	await page.keyboard.press('Tab');
	await page.keyboard.type('guest');
	await page.keyboard.press('Enter');
	await page.locator('#ov-queues').waitFor();
	eq(await text('#who-name'), 'guest', 'the user shown');

	// Overview: the counts and the queued total are the API's; the charts are drawn.
	const ov = await apiOk('GET', '/overview');
	for (const k of ['connections', 'channels', 'exchanges', 'queues', 'consumers'])
		await waitText(`#ov-${k}`, ov.object_totals[k].toLocaleString('en-US'), `overview ${k}`);
	await waitText('#ov-queued-legend [data-series="Total"]', ov.queue_totals.messages, 'queued total');
	ok(Number(await page.getAttribute('#ov-queued-canvas', 'data-points')) >= 1, 'the queued chart has a sample');
	ok(Number(await page.getAttribute('#ov-rates-canvas', 'data-points')) >= 1, 'the rates chart has a sample');
	eq(await page.getAttribute('#nav a[href="#/"]', 'aria-current'), 'page', 'the nav marks the page');
	await clean('overview');
	await shot('overview');

	// Queues: the first page of 20 (sorted by vhost and name) as the API has it, the second page,
	// a regular expression filter, sorting by the message count, a name that is markup.
	await go('#/queues');
	const q1 = await apiOk('GET', '/queues?page=1&page_size=20');
	await until(async () => (await page.getAttribute('#queues-summary', 'data-total')) === String(q1.total_count), 'queue count');
	eq(await colTexts('#queues-table', 2), q1.items.map((q) => q.name), 'queue names on page 1');
	eq(await text('#queues-page'), `Page 1 of ${q1.page_count}`, 'page label');
	const names = await colTexts('#queues-table', 2);
	ok(names.includes(XSS), 'the markup-named queue is shown as text');
	eq(await page.$$eval('#queues-table img', (x) => x.length), 0, 'no element made from a queue name');
	await shot('queues');
	await page.click('text=Next page');
	const q2 = await apiOk('GET', '/queues?page=2&page_size=20');
	await waitText('#queues-page', `Page 2 of ${q2.page_count}`, 'page 2');
	eq(await colTexts('#queues-table', 2), q2.items.map((q) => q.name), 'queue names on page 2');
	await page.check('#queues-regex');
	await page.fill('#queues-filter', '^ui\\.q0[1-5]$');
	const qf = await apiOk('GET', `/queues?page=1&page_size=20&name=${enc('^ui\\.q0[1-5]$')}&use_regex=true`);
	eq(qf.filtered_count, 5, 'the API filters 5 queues');
	await until(async () => (await page.getAttribute('#queues-summary', 'data-filtered')) === '5', 'the filter');
	eq(await colTexts('#queues-table', 2), qf.items.map((q) => q.name), 'filtered names');
	await page.click('#queues-table th button:text-is("Total")');
	await page.click('#queues-table th button:text-is("Total")');
	await until(async () => (await page.getAttribute('#queues-table th:nth-child(9)', 'aria-sort')) === 'descending', 'sort');
	const qs = await apiOk('GET', `/queues?page=1&page_size=20&name=${enc('^ui\\.q0[1-5]$')}&use_regex=true&sort=messages&sort_reverse=true`);
	await until(async () => (await colTexts('#queues-table', 2))[0] === qs.items[0].name, 'sorted first row');
	eq(qs.items[0].name, qname(1), 'the fullest queue first');
	eq((await colTexts('#queues-table', 9))[0], '5', 'its message count');
	await page.fill('#queues-filter', '');
	await page.uncheck('#queues-regex');
	await clean('queues');

	// A queue's page: counts, bindings, publish, get, purge.
	await go(`#/queues/%2F/${qname(1)}`);
	await waitText('#queue-total', 5, 'queue messages');
	const details = await page.textContent('#main');
	ok(/Consumer capacity\s*0%/.test(details), 'consumer capacity 0% without consumers');
	ok(/Memory\s*[0-9.]+ (B|KiB|MiB)/.test(details), 'the queue\'s memory');
	const qb = await apiOk('GET', `/queues/%2F/${qname(1)}/bindings`);
	eq((await colTexts('#queue-bindings-table', 1)).length, qb.length, 'binding rows');
	ok((await colTexts('#queue-bindings-table', 1)).includes('ui.x'), 'the ui.x binding shown');
	ok((await colTexts('#queue-bindings-table', 2)).includes('ui.#'), 'its routing key shown');
	const pub = page.locator('form[aria-label="Publish message"]');
	await pub.locator('textarea[name=payload]').fill('from the UI');
	await pub.locator('button[type=submit]').click();
	await page.locator('text=Message published.').first().waitFor();
	eq((await apiOk('GET', `/queues/%2F/${qname(1)}`)).messages, 6, 'API count after publishing from the page');
	await waitText('#queue-total', 6, 'page count after publishing');
	const gf = page.locator('form[aria-label="Get messages"]');
	await gf.locator('input[name=count]').fill('2');
	await gf.locator('button[type=submit]').click();
	await page.locator('#queue-got .message').nth(1).waitFor();
	eq(await page.$$eval('#queue-got pre.payload', (p) => p.map((x) => x.textContent)), ['m1', 'm2'], 'payloads got (requeued)');
	eq((await apiOk('GET', `/queues/%2F/${qname(1)}`)).messages, 6, 'requeued messages stay');
	await shot('queue', true);
	await page.click('#queue-purge');
	await until(async () => (await apiOk('GET', `/queues/%2F/${qname(1)}`)).messages === 0, 'purge');
	await waitText('#queue-total', 0, 'page count after purge');
	await clean('queue page');

	// Delete a queue from its page: back to the list, and the API no longer has it.
	await go(`#/queues/%2F/${qname(NQUEUES)}`);
	await waitText('#queue-total', 0, 'queue to delete');
	await page.click('#queue-delete');
	await page.waitForURL(/#\/queues$/);
	await until(async () => (await api('GET', `/queues/%2F/${qname(NQUEUES)}`)).status === 404, 'queue deleted');
	await clean('queue delete');

	// Exchanges: the list, an exchange's page with its bindings, a binding added and a publish.
	await go('#/exchanges');
	const xl = await apiOk('GET', '/exchanges?page=1&page_size=20');
	await until(async () => (await page.getAttribute('#exchanges-summary', 'data-total')) === String(xl.total_count), 'exchange count');
	eq(await colTexts('#exchanges-table', 2), xl.items.map((x) => x.name === '' ? '(AMQP default)' : x.name), 'exchange names');
	await shot('exchanges');
	await go('#/exchanges/%2F/ui.x');
	await until(async () => (await page.locator('#exchange-source-table tbody tr td:has(a)').count()) > 0, 'exchange bindings');
	eq(await colTexts('#exchange-source-table', 2), ['ui.#'], 'routing keys from ui.x');
	const bf = page.locator('form[aria-label="Add binding"]');
	await bf.locator('input[name=other]').fill(qname(2));
	await bf.locator('input[name=routing_key]').fill('k2');
	await bf.locator('button[type=submit]').click();
	await until(async () => (await apiOk('GET', `/bindings/%2F/e/ui.x/q/${qname(2)}`)).length === 1, 'binding added');
	await until(async () => (await colTexts('#exchange-source-table', 2)).includes('k2'), 'new binding shown');
	const xp = page.locator('form[aria-label="Publish message"]');
	await xp.locator('input[name=routing_key]').fill('ui.test');
	await xp.locator('textarea[name=payload]').fill('through ui.x');
	await xp.locator('button[type=submit]').click();
	await page.locator('text=Message published.').first().waitFor();
	eq((await apiOk('GET', `/queues/%2F/${qname(1)}`)).messages, 1, 'routed to the bound queue');
	await xp.locator('input[name=routing_key]').fill('nowhere');
	await xp.locator('button[type=submit]').click();
	await page.locator('text=Message published, but not routed.').first().waitFor();
	await shot('exchange', true);
	await clean('exchange page');

	// Connections: the two clients', one closed from its page; channels.
	await go('#/connections');
	const cl = await apiOk('GET', '/connections?page=1&page_size=20');
	eq(cl.total_count, 2, 'the API lists the two clients');
	await until(async () => (await page.getAttribute('#connections-summary', 'data-total')) === '2', 'connection count');
	// Each name, and under it the name the client gave (its connection_name property).
	eq(await colTexts('#connections-table', 1), cl.items.map((c) => c.name + c.user_provided_name), 'connection names');
	await shot('connections');
	await page.click(`#connections-table a:text-is("${cl.items[0].name}")`);
	await page.locator('#connection-channels-table').waitFor();
	await page.locator(`#connection-details dd:text-is("${cl.items[0].user_provided_name}")`).waitFor();
	checks++;
	eq((await colTexts('#connection-channels-table', 1)).length, 1, 'its channel');
	await shot('connection');
	await page.locator('form[aria-label="Close this connection"] button[type=submit]').click();
	await page.waitForURL(/#\/connections$/);
	await until(async () => (await apiOk('GET', '/connections')).length === 1, 'connection closed');
	await until(async () => (await page.getAttribute('#connections-summary', 'data-total')) === '1', 'page after close');
	await go('#/channels');
	const chl = await apiOk('GET', '/channels?page=1&page_size=20');
	await until(async () => (await page.getAttribute('#channels-summary', 'data-total')) === String(chl.total_count), 'channel count');
	eq(await colTexts('#channels-table', 1), chl.items.map((c) => c.name), 'channel names');
	await shot('channels');
	await clean('connections');

	// Virtual hosts, and the admin lists whose endpoints may not exist on this broker yet: a
	// table when the API serves them, a notice (and no form) when it answers 404 or 405.
	await go('#/vhosts');
	const vl = await apiOk('GET', '/vhosts');
	await page.locator('#vhosts-table').waitFor();
	eq(await colTexts('#vhosts-table', 1), vl.map((v) => v.name), 'vhost names');
	eq(await colTexts('#vhosts-table', 6), vl.map((v) => String(v.messages)), 'vhost message counts');
	await shot('vhosts');
	await clean('vhosts');
	for (const [id, key] of [['users', 'name'], ['permissions', 'user'], ['policies', 'name']]) {
		const r = await api('GET', `/${id}`);
		if (r.status === 404 || r.status === 405) allowed.push([new RegExp(`/api/${id}$`), r.status]);
		await go(`#/${id}`);
		if (r.status === 200) {
			await page.locator(`#${id}-table`).waitFor();
			const col = id === 'policies' ? 2 : 1;
			eq(await colTexts(`#${id}-table`, col), r.json.map((x) => x[key]), `${id} rows`);
		} else {
			await page.locator(`#${id}-area .notice`).waitFor();
			ok((await text(`#${id}-area`)).includes('not available from this broker yet'), `${id}: the missing endpoint is explained`);
			ok(await page.locator(`#${id}-add`).isHidden(), `${id}: no form for a missing endpoint`);
		}
		await shot(id);
		await clean(id);
	}

	// Policies for real (this warrend has a users file and a vhost directory): one added through
	// the form, in force on a queue at once (its page names it), then deleted with its button.
	if ((await api('GET', '/policies')).status === 200) {
		const held = (await apiOk('GET', `/queues/%2F/${qname(1)}`)).messages;
		await go('#/policies');
		await page.locator('#policies-table').waitFor();
		const yf = page.locator('form[aria-label="Add or update a policy"]');
		await yf.locator('input[name=name]').fill('ui-cap');
		await yf.locator('input[name=pattern]').fill(`^${qname(1)}$`);
		await yf.locator('select[name=apply_to]').selectOption('queues');
		await yf.locator('input[name=priority]').fill('2');
		await yf.locator('textarea[name=definition]').fill('{"max-length": 3}');
		await yf.locator('button[type=submit]').click();
		await page.locator('text=Policy ui-cap saved.').waitFor();
		const pl = await apiOk('GET', '/policies/%2F/ui-cap');
		eq([pl['apply-to'], pl.priority, pl.definition], ['queues', 2, { 'max-length': 3 }], 'the policy as the form set it');
		await until(async () => (await colTexts('#policies-table', 2)).includes('ui-cap'), 'the new policy listed');
		const q1 = await apiOk('GET', `/queues/%2F/${qname(1)}`);
		eq([q1.policy, q1.messages, q1.effective_policy_definition], ['ui-cap', Math.min(held, 3), { 'max-length': 3 }],
			'the queue under the policy (cut to 3 at once)');
		await go(`#/queues/%2F/${qname(1)}`);
		await until(async () => (await page.locator('main').innerText()).includes('ui-cap'), 'the queue page names its policy');
		await go('#/policies');
		await page.locator('#policies-table').waitFor();
		await shot('policies');
		await page.click('#policies-table button[aria-label="Delete policy ui-cap"]');
		await page.locator('text=Deleted.').first().waitFor();
		eq((await api('GET', '/policies/%2F/ui-cap')).status, 404, 'the policy deleted');
		allowed.push([/\/api\/policies\/%2F\/ui-cap$/, 404]);
		await go('#/operator-policies');
		await page.locator('#operator-policies-table').waitFor();
		await shot('operator-policies');
		await clean('policies');
	}

	// Limits (the vhost files hold them): one set through the form, listed and in the API at
	// once, a user limit refused with the broker's reason shown, then the limit cleared.
	if ((await api('GET', '/vhost-limits')).status === 200) {
		await go('#/limits');
		await page.locator('#vhost-limits-table').waitFor();
		await page.locator('#user-limits-table').waitFor();
		const lf = page.locator('form[aria-label="Set a virtual host limit"]');
		await lf.locator('select[name=name]').selectOption('max-queues');
		await lf.locator('input[name=value]').fill('500');
		await lf.locator('button[type=submit]').click();
		await page.locator('text=Limit max-queues of / set to 500.').waitFor();
		eq((await apiOk('GET', '/vhost-limits/%2F'))[0].value, { 'max-queues': 500 }, 'the limit as the form set it');
		await until(async () => (await colTexts('#vhost-limits-table', 3)).includes('500'), 'the limit listed');
		const users = (await apiOk('GET', '/user-limits')).map((u) => u.user);
		eq(await colTexts('#user-limits-table', 1), users.length ? users : ['No items'], 'user limits rows');
		const ul = page.locator('form[aria-label="Set a user limit"]');
		allowed.push([/\/api\/user-limits\/guest\/max-connections$/, 400]);
		await ul.locator('input[name=user]').fill('guest');
		await ul.locator('input[name=value]').fill('10');
		await ul.locator('button[type=submit]').click();
		await page.locator('#user-limits-add .notice.error').waitFor();
		ok((await text('#user-limits-add .notice.error')).includes('no per-user limits'), 'a user limit is refused with the reason');
		await shot('limits', true);
		await page.click('#vhost-limits-table button[aria-label="Clear max-queues of /"]');
		await page.locator('text=Cleared.').first().waitFor();
		eq((await apiOk('GET', '/vhost-limits/%2F')).length, 0, 'the limit cleared');
		await clean('limits');
	}

	// Definitions: download, then upload a file that declares a queue.
	await go('#/definitions');
	const dr = await api('GET', '/definitions');
	if (dr.status === 404 || dr.status === 405) allowed.push([/\/api\/definitions$/, dr.status]);
	const file = path.join(os.tmpdir(), `ui-definitions-${process.pid}.json`);
	fs.writeFileSync(file, JSON.stringify({ queues: [{ name: 'ui.imported', vhost: '/', durable: true, auto_delete: false, arguments: {} }] }));
	const exp = page.locator('form[aria-label="Export definitions"]');
	const imp = page.locator('form[aria-label="Import definitions"]');
	await page.setInputFiles('#definitions-file', file);
	if (dr.status === 200) {
		const [dl] = await Promise.all([page.waitForEvent('download'), exp.locator('button[type=submit]').click()]);
		const got = JSON.parse(fs.readFileSync(await dl.path(), 'utf8'));
		ok(Array.isArray(got.queues) && got.queues.length === dr.json.queues.length, 'downloaded definitions');
		await imp.locator('button[type=submit]').click();
		await page.locator('text=imported').first().waitFor();
		await until(async () => (await api('GET', '/queues/%2F/ui.imported')).status === 200, 'imported queue');
	} else {
		await exp.locator('button[type=submit]').click();
		await page.locator('#definitions-export .notice.error').waitFor();
		ok((await text('#definitions-export .notice')).includes('not available from this broker yet'), 'export explains');
		await imp.locator('button[type=submit]').click();
		await page.locator('#definitions-import .notice.error').waitFor();
		ok((await text('#definitions-import .notice')).includes('not available from this broker yet'), 'import explains');
	}
	fs.unlinkSync(file);
	await shot('definitions');
	await clean('definitions');

	// The admin pages against RabbitMQ 3.10's JSON: the browser's requests are answered by the
	// test (page.route) with the documented shapes, and what the forms send is checked.
	await adminAsRabbitMQ(page, { ok, eq, go, colTexts, clean });

	// Log out: the form again, and the credentials gone from sessionStorage.
	await page.click('#logout');
	await page.locator('#login').waitFor();
	eq(await page.evaluate(() => sessionStorage.getItem('warren.auth')), null, 'credentials forgotten');
	ok(await page.locator('#nav').isHidden(), 'no navigation when logged out');
	await clean('logout');
	page.removeAllListeners();
	await browser.close();
	console.log(`ui: ${checks} checks passed`);
}

async function adminAsRabbitMQ(page, { ok, eq, go, colTexts, clean }) {
	const data = {
		users: [
			{ name: 'guest', password_hash: 'x', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'], limits: {} },
			{ name: '<b>bob</b>', password_hash: '', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['monitoring', 'management'], limits: {} },
		],
		permissions: [{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
		policies: [{ vhost: '/', name: 'ttl', pattern: '^ui\\.', 'apply-to': 'queues', definition: { 'message-ttl': 60000 }, priority: 1 }],
	};
	const sent = [];
	await page.route(/\/api\/(users|permissions|policies)(\/.*)?$/, (route) => {
		const req = route.request();
		const m = /\/api\/(users|permissions|policies)(\/.*)?$/.exec(req.url());
		if (req.method() === 'GET' && !m[2]) return route.fulfill({ json: data[m[1]] });
		sent.push([req.method(), new URL(req.url()).pathname, req.postData() ? JSON.parse(req.postData()) : null]);
		return route.fulfill({ status: req.method() === 'PUT' ? 201 : 204, body: '' });
	});
	await go('#/users');
	await page.locator('#users-table').waitFor();
	eq(await colTexts('#users-table', 1), ['guest', '<b>bob</b>'], 'users as RabbitMQ lists them');
	eq(await colTexts('#users-table', 2), ['administrator', 'monitoringmanagement'], 'their tags');
	eq(await page.$$eval('#users-table b', (x) => x.length), 0, 'a user name is text');
	const uf = page.locator('form[aria-label="Add a user"]');
	await uf.locator('input[name=name]').fill('alice');
	await uf.locator('input[name=password]').fill('s3cret');
	await uf.locator('input[name=tags]').fill('management, policymaker');
	await uf.locator('button[type=submit]').click();
	await page.locator('text=User alice saved.').waitFor();
	eq(sent.pop(), ['PUT', '/api/users/alice', { tags: 'management,policymaker', password: 's3cret' }], 'PUT /api/users/alice');
	await page.click('#users-table button[aria-label="Delete user <b>bob</b>"]');
	await page.locator('text=Deleted.').first().waitFor();
	eq(sent.pop(), ['DELETE', '/api/users/%3Cb%3Ebob%3C%2Fb%3E', null], 'DELETE a user');
	await go('#/permissions');
	await page.locator('#permissions-table').waitFor();
	eq(await colTexts('#permissions-table', 3), ['.*'], 'configure permission');
	const pf = page.locator('form[aria-label="Set permissions"]');
	await pf.locator('input[name=user]').fill('alice');
	await pf.locator('input[name=write]').fill('^ui\\.');
	await pf.locator('button[type=submit]').click();
	await page.locator('text=Permissions of alice in / set.').waitFor();
	eq(sent.pop(), ['PUT', '/api/permissions/%2F/alice', { configure: '.*', write: '^ui\\.', read: '.*' }], 'PUT /api/permissions');
	await go('#/policies');
	await page.locator('#policies-table').waitFor();
	eq(await colTexts('#policies-table', 4), ['queues'], 'apply-to');
	const yf = page.locator('form[aria-label="Add or update a policy"]');
	await yf.locator('input[name=name]').fill('max');
	await yf.locator('input[name=pattern]').fill('^ui');
	await yf.locator('textarea[name=definition]').fill('{"max-length": 10}');
	await yf.locator('button[type=submit]').click();
	await page.locator('text=Policy max saved.').waitFor();
	eq(sent.pop(), ['PUT', '/api/policies/%2F/max', { pattern: '^ui', 'apply-to': 'all', priority: 0, definition: { 'max-length': 10 } }], 'PUT /api/policies');
	await page.unrouteAll();
	// Limits as RabbitMQ 3.10 lists them: a negative limit kept, an emptied map sent as [].
	await page.route(/\/api\/(vhost|user)-limits(\/.*)?$/, (route) => {
		const req = route.request();
		const m = /\/api\/(vhost|user)-limits(\/.*)?$/.exec(req.url());
		if (req.method() === 'GET' && m[1] === 'vhost')
			return route.fulfill({ json: [{ vhost: '/', value: { 'max-queues': -1, 'max-connections': 50 } }, { vhost: 'v2', value: [] }] });
		if (req.method() === 'GET')
			return route.fulfill({ json: [{ user: 'guest', value: { 'max-channels': 5, 'max-connections': 50 } }] });
		sent.push([req.method(), new URL(req.url()).pathname, req.postData() ? JSON.parse(req.postData()) : null]);
		return route.fulfill({ status: 204, body: '' });
	});
	await go('#/limits');
	await page.locator('#vhost-limits-table').waitFor();
	eq(await colTexts('#vhost-limits-table', 2), ['50', ''], 'max-connections as RabbitMQ lists it');
	eq(await colTexts('#vhost-limits-table', 3), ['no limit (-1)', ''], 'a negative limit');
	eq(await colTexts('#user-limits-table', 3), ['5'], 'a user\'s max-channels');
	const uf2 = page.locator('form[aria-label="Set a user limit"]');
	await uf2.locator('input[name=user]').fill('guest');
	await uf2.locator('select[name=name]').selectOption('max-channels');
	await uf2.locator('input[name=value]').fill('7');
	await uf2.locator('button[type=submit]').click();
	await page.locator('text=Limit max-channels of guest set to 7.').waitFor();
	eq(sent.pop(), ['PUT', '/api/user-limits/guest/max-channels', { value: 7 }], 'PUT /api/user-limits');
	await page.click('#vhost-limits-table button[aria-label="Clear max-connections of /"]');
	await page.locator('text=Cleared.').first().waitFor();
	eq(sent.pop(), ['DELETE', '/api/vhost-limits/%2F/max-connections', null], 'DELETE /api/vhost-limits');
	await clean('admin pages with RabbitMQ JSON');
	await page.unrouteAll();
}

main().then(() => process.exit(0), (e) => {
	console.error(`ui: FAIL: ${e.message}`);
	process.exit(1);
});
