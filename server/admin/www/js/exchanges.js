// exchanges.js: the exchanges list with a form to add one, and an exchange's page: details,
// bindings from and to it (add, remove), publish a message, delete.
import { api, enc, get } from './api.js';
import { errorText, h, kv, kvList, notice, replace, route, showStatus, table } from './dom.js';
import { listView } from './list.js';
import { bindForm, form, parseObject, publishForm, row, select, unbindButton, vhostSelect } from './forms.js';

const TYPES = ['direct', 'fanout', 'headers', 'topic'];
const shown = (name) => name === '' ? '(AMQP default)' : name;
const pathName = (name) => name === '' ? 'amq.default' : name;

function features(x) {
	const f = [];
	if (x.durable) f.push(h('abbr', { title: 'durable', class: 'tag' }, 'D'));
	if (x.auto_delete) f.push(h('abbr', { title: 'auto-delete', class: 'tag' }, 'AD'));
	if (x.internal) f.push(h('abbr', { title: 'internal', class: 'tag' }, 'I'));
	for (const k of Object.keys(x.arguments || {})) f.push(h('span', { class: 'tag', title: JSON.stringify(x.arguments[k]) }, k));
	return f;
}

export function exchanges(root) {
	const list = listView({
		id: 'exchanges',
		path: '/exchanges',
		caption: 'Exchanges',
		columns: [
			{ title: 'Virtual host', sort: 'vhost', render: (x) => x.vhost },
			{ title: 'Name', sort: 'name', render: (x) => h('a', { href: route('exchanges', x.vhost, pathName(x.name)) }, shown(x.name)) },
			{ title: 'Type', sort: 'type', render: (x) => x.type },
			{ title: 'Features', render: features },
		],
	});
	const add = form({
		label: 'Add a new exchange',
		submit: 'Add exchange',
		fields: [
			row('Virtual host', vhostSelect()),
			row('Name', h('input', { name: 'name', required: true })),
			row('Type', select('type', TYPES, 'direct')),
			row('Durability', select('durable', [['true', 'Durable'], ['false', 'Transient']], 'true')),
			row('Auto delete', select('auto_delete', [['false', 'No'], ['true', 'Yes']], 'false')),
			row('Internal', select('internal', [['false', 'No'], ['true', 'Yes']], 'false')),
			row('Arguments', h('textarea', { name: 'args', rows: 2, placeholder: '{"alternate-exchange": "ae"}' }), 'a JSON object, optional'),
		],
		fn: async (v) => {
			await api('PUT', `/exchanges/${enc(v.vhost)}/${enc(v.name)}`, {
				type: v.type, durable: v.durable === 'true', auto_delete: v.auto_delete === 'true',
				internal: v.internal === 'true', arguments: parseObject(v.args, 'Arguments'),
			});
			list.refresh();
			return `Exchange ${v.name} declared.`;
		},
	});
	replace(root, h('h1', {}, 'Exchanges'), list.el, h('section', { class: 'panel' }, h('h2', {}, 'Add a new exchange'), add));
	return { refresh: list.refresh };
}

export function exchange(root, [vhost, name]) {
	const real = name === 'amq.default' ? '' : name;
	const base = `/exchanges/${enc(vhost)}/${enc(name)}`;
	const details = h('div', { id: 'exchange-details' });
	const from = h('div', { id: 'exchange-bindings-source' });
	const to = h('div', { id: 'exchange-bindings-destination' });
	const error = h('div');
	const ifUnused = h('input', { type: 'checkbox', id: 'x-del-if-unused' });
	const del = h('button', {
		type: 'button', class: 'danger', id: 'exchange-delete',
		onclick: async () => {
			if (!window.confirm(`Delete exchange ${name}?`)) return;
			try {
				await api('DELETE', base + (ifUnused.checked ? '?if-unused=true' : ''));
				showStatus('ok', `Exchange ${name} deleted.`);
				location.hash = '#/exchanges';
			} catch (e) {
				showStatus('error', errorText(e));
			}
		},
	}, 'Delete this exchange');
	const parts = [h('h1', {}, 'Exchange ', h('span', { id: 'exchange-name' }, shown(real))),
		h('p', { class: 'muted' }, `Virtual host ${vhost}`), error, details];
	if (real !== '')
		parts.push(h('section', { class: 'panel' }, h('h2', {}, 'Bindings from this exchange'), from,
			h('h3', {}, 'Add binding from this exchange'), bindForm(vhost, real, 'source', () => refresh())));
	parts.push(h('section', { class: 'panel' }, h('h2', {}, 'Bindings to this exchange'), to),
		h('section', { class: 'panel' }, h('h2', {}, 'Publish message'), publishForm(vhost, name)));
	if (real !== '' && !real.startsWith('amq.'))
		parts.push(h('section', { class: 'panel' }, h('h2', {}, 'Delete'),
			h('form', { class: 'inline', 'aria-label': 'Delete exchange', onsubmit: (ev) => ev.preventDefault() },
				h('label', {}, ifUnused, ' only if unused'), del)));
	replace(root, ...parts);

	const bindingColumns = (other) => [
		{ title: other === 'destination' ? 'To' : 'From', render: (b) => {
			const n = b[other];
			const kind = other === 'destination' && b.destination_type === 'queue' ? 'queues' : 'exchanges';
			return h('a', { href: route(kind, vhost, n) }, `${n}${other === 'destination' ? ` (${b.destination_type})` : ''}`);
		} },
		{ title: 'Routing key', render: (b) => b.routing_key },
		{ title: 'Arguments', render: (b) => kvList(b.arguments) },
		{ title: '', render: (b) => unbindButton(b, refresh) },
	];

	async function refresh() {
		let x, src = [], dst = [];
		try {
			[x, src, dst] = await Promise.all([get(base),
				real === '' ? [] : get(`${base}/bindings/source`),
				real === '' ? [] : get(`${base}/bindings/destination`)]);
		} catch (e) {
			replace(error, e.status === 404 ? notice('warn', `Exchange ${name} in virtual host ${vhost} does not exist.`)
				: notice('error', errorText(e)));
			return;
		}
		replace(error);
		replace(details, h('section', { class: 'panel' }, h('h2', {}, 'Details'), kv([
			['Type', x.type], ['Features', features(x)], ['Arguments', kvList(x.arguments)], ['Policy', x.policy || ''],
		])));
		replace(from, table({ id: 'exchange-source-table', columns: bindingColumns('destination'), rows: src, empty: 'No bindings' }));
		replace(to, real === ''
			? notice('info', 'The default exchange is implicitly bound to every queue, with a routing key equal to the queue name. It is not possible to explicitly bind to, or unbind from the default exchange.')
			: table({ id: 'exchange-destination-table', columns: bindingColumns('source'), rows: dst, empty: 'No bindings' }));
	}
	return { refresh };
}
