// app.js: Warren's web UI, a single page: the login form (HTTP Basic credentials kept in
// sessionStorage), the routes after '#' (#/queues/%2F/name: segments percent-encoded), and the
// 5-second refresh of the page on show. Plain ES modules, no framework, no build step.
import { api, clearCredentials, hasCredentials, setCredentials, setLoginLost, setWhoami, whoami } from './api.js';
import { clear, errorText, h, replace } from './dom.js';
import { overview } from './overview.js';
import { queue, queues } from './queues.js';
import { exchange, exchanges } from './exchanges.js';
import { channels, connection, connections } from './connections.js';
import { operatorPolicies, permissions, policies, users, vhosts } from './admin.js';
import { definitions } from './definitions.js';
import { limits } from './limits.js';

const REFRESH_MS = 5000;

// [first segment, number of segments after it, the page, the nav entry it belongs to]
const ROUTES = [
	['', 0, overview, ''],
	['connections', 0, connections, 'connections'],
	['connections', 1, connection, 'connections'],
	['channels', 0, channels, 'channels'],
	['exchanges', 0, exchanges, 'exchanges'],
	['exchanges', 2, exchange, 'exchanges'],
	['queues', 0, queues, 'queues'],
	['queues', 2, queue, 'queues'],
	['vhosts', 0, vhosts, 'vhosts'],
	['users', 0, users, 'users'],
	['permissions', 0, permissions, 'permissions'],
	['policies', 0, policies, 'policies'],
	['operator-policies', 0, operatorPolicies, 'operator-policies'],
	['limits', 0, limits, 'limits'],
	['definitions', 0, definitions, 'definitions'],
];

const $ = (id) => document.getElementById(id);
let current = null; // {refresh} of the page on show
let timer = null;
let busy = false;

function parseHash() {
	const hash = location.hash.startsWith('#/') ? location.hash.slice(2) : '';
	const segs = hash === '' ? [] : hash.split('/').map((s) => {
		try {
			return decodeURIComponent(s);
		} catch {
			return s;
		}
	});
	return { first: segs.length ? segs[0] : '', rest: segs.slice(1) };
}

async function tick() {
	if (busy || !current || !current.refresh || document.hidden) return;
	busy = true;
	try {
		await current.refresh();
	} finally {
		busy = false;
	}
}

function show() {
	if (!whoami()) return;
	const { first, rest } = parseHash();
	const r = ROUTES.find(([f, n]) => f === first && n === rest.length);
	const page = $('page');
	clearInterval(timer);
	current = null;
	for (const a of document.querySelectorAll('#nav a')) {
		const target = a.getAttribute('href').slice(2);
		if (r && target === r[3]) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
	if (!r) {
		replace(page, h('h1', {}, 'Not found'), h('p', {}, 'There is no such page. ', h('a', { href: '#/' }, 'Overview')));
		return;
	}
	clear(page);
	current = r[2](page, rest) || {};
	document.title = `Warren: ${page.querySelector('h1') ? page.querySelector('h1').textContent : 'management'}`;
	busy = false;
	tick();
	timer = setInterval(tick, REFRESH_MS);
}

function showLogin(message) {
	clearInterval(timer);
	current = null;
	setWhoami(null);
	clear($('page'));
	$('nav').hidden = true;
	$('who').hidden = true;
	$('login').hidden = false;
	const err = $('login-error');
	err.hidden = !message;
	err.textContent = message || '';
	$('login-user').focus();
}

// The credentials in sessionStorage work: show the UI.
async function enter() {
	let me;
	try {
		me = await api('GET', '/whoami');
	} catch (e) {
		clearCredentials();
		const why = e.reason && e.reason !== 'Login failed' ? `: ${e.reason}` : '';
		showLogin(e.status === 401 ? `Login failed${why}` : errorText(e));
		return;
	}
	me.tags = Array.isArray(me.tags) ? me.tags : String(me.tags || '').split(',').filter(Boolean);
	setWhoami(me);
	$('login').hidden = true;
	$('who-name').textContent = me.name;
	$('who-tags').textContent = me.tags.length ? `(${me.tags.join(', ')})` : '';
	$('who').hidden = false;
	for (const li of document.querySelectorAll('#nav li[data-tag]')) {
		const need = li.dataset.tag;
		li.hidden = !(me.tags.includes('administrator') || me.tags.includes(need));
	}
	$('nav').hidden = false;
	api('GET', '/overview?columns=product_name,product_version').then((o) => {
		$('product').textContent = `${o.product_name || ''} ${o.product_version || ''}`;
	}).catch(() => {});
	show();
}

$('login-form').addEventListener('submit', (ev) => {
	ev.preventDefault();
	setCredentials($('login-user').value, $('login-pass').value);
	$('login-pass').value = '';
	enter();
});

$('logout').addEventListener('click', () => {
	clearCredentials();
	for (const k of Object.keys(sessionStorage)) if (k.startsWith('warren.')) sessionStorage.removeItem(k);
	showLogin('');
	$('product').textContent = '';
});

setLoginLost((e) => {
	clearCredentials();
	showLogin(`Logged out: ${e.reason || e.error}`);
});

window.addEventListener('hashchange', show);
document.addEventListener('visibilitychange', tick);

if (hasCredentials()) enter();
else showLogin('');
