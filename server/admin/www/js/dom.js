// dom.js: building the page. Every string from the API (queue names are anyone's input) goes in
// as a text node or an attribute value, never as HTML: nothing here touches innerHTML.

// h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child, [more]) -> an element.
export function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
		else if (k === 'class') el.className = v;
		else if (k === 'for') el.htmlFor = v;
		else if (k === 'value') el.value = v;
		else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'hidden') el[k] = Boolean(v);
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	append(el, children);
	return el;
}

function append(el, children) {
	for (const c of children) {
		if (c === undefined || c === null || c === false) continue;
		if (Array.isArray(c)) append(el, c);
		else if (c instanceof Node) el.appendChild(c);
		else el.appendChild(document.createTextNode(String(c)));
	}
}

export function clear(el) {
	while (el.firstChild) el.removeChild(el.firstChild);
	return el;
}

export function replace(el, ...children) {
	clear(el);
	append(el, children);
	return el;
}

// A link to one of the UI's pages: route('queues', vhost, name) -> #/queues/%2F/name
export function route(...segs) {
	return `#/${segs.map((s) => encodeURIComponent(s)).join('/')}`;
}

export function fmtNum(n) {
	if (n === undefined || n === null || n === '') return '';
	return typeof n === 'number' ? n.toLocaleString('en-US') : String(n);
}

export function fmtRate(r) {
	if (r === undefined || r === null) return '';
	return `${r >= 100 ? Math.round(r).toLocaleString('en-US') : r.toFixed(1)}/s`;
}

export function fmtBytes(n) {
	if (n === undefined || n === null) return '';
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	let i = 0;
	while (n >= 1024 && i < units.length - 1) {
		n /= 1024;
		i++;
	}
	return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function fmtTime(ms) {
	return ms ? new Date(ms).toLocaleString('en-GB') : '';
}

// A dotted path into an object: dig(q, 'message_stats.publish_details.rate').
export function dig(o, path) {
	for (const k of path.split('.')) {
		if (o === undefined || o === null) return undefined;
		o = o[k];
	}
	return o;
}

export function rateOf(o, stat) {
	return fmtRate(dig(o, `message_stats.${stat}_details.rate`) ?? 0);
}

export function json(v) {
	return h('pre', {}, v === undefined ? '' : JSON.stringify(v, null, 2));
}

// Arguments or headers as "k: v" lines (an empty object shows nothing).
export function kvList(o) {
	const keys = Object.keys(o || {});
	if (keys.length === 0) return '';
	return h('pre', {}, keys.map((k) => `${k}: ${JSON.stringify(o[k])}`).join('\n'));
}

export function tags(list) {
	return (list || []).map((t) => h('span', { class: 'tag' }, t));
}

// A table: columns [{title, render(row) -> node|string, num, sort (the API's sort key)}].
export function table({ caption, columns, rows, empty = 'No items', id }) {
	const t = h('table', { id },
		caption ? h('caption', {}, caption) : null,
		h('thead', {}, h('tr', {}, columns.map((c) =>
			h('th', { scope: 'col', class: c.num ? 'num' : null }, c.title)))));
	t.appendChild(tbody(columns, rows, empty));
	return h('div', { class: 'table-wrap' }, t);
}

export function tbody(columns, rows, empty = 'No items') {
	const b = h('tbody');
	if (rows.length === 0)
		b.appendChild(h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, empty)));
	for (const row of rows)
		b.appendChild(h('tr', {}, columns.map((c) =>
			h('td', { class: c.num ? 'num' : null }, c.render(row)))));
	return b;
}

export function kv(pairs) {
	return h('dl', { class: 'kv' }, pairs.filter((p) => p).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function notice(kind, ...text) {
	return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : null }, ...text);
}

// What an endpoint that is not there yet shows: the page still works once it lands.
export function missingNotice(what, path, err) {
	return notice('warn', `${what} are not available from this broker yet: ${path} answered `,
		`${err.status} ${err.error}${err.reason ? ` (${err.reason})` : ''}.`);
}

let statusTimer = null;

// A short message in the corner (role=status: read out by screen readers).
export function showStatus(kind, text) {
	const s = document.getElementById('status');
	replace(s, notice(kind, text));
	clearTimeout(statusTimer);
	statusTimer = setTimeout(() => clear(s), kind === 'error' ? 10000 : 4000);
}

export function errorText(e) {
	if (e && e.status !== undefined)
		return `${e.status ? `${e.status} ` : ''}${e.error}${e.reason ? `: ${e.reason}` : ''}`;
	return String(e && e.message ? e.message : e);
}

let uid = 0;
export function nextId(prefix) {
	uid++;
	return `${prefix}-${uid}`;
}
