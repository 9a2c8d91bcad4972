// queues.js: the queues list (sorted, paged and filtered by the broker) with a form to add one,
// and a queue's page: details, bindings, publish, get messages, purge, delete.
import { api, enc, get } from './api.js';
import {
	errorText, fmtBytes, fmtNum, h, json, kv, kvList, notice, rateOf, replace, route, showStatus, table,
} from './dom.js';
import { listView } from './list.js';
import { bindForm, form, parseObject, publishForm, row, select, unbindButton, vhostSelect } from './forms.js';

function features(q) {
	const f = [];
	if (q.durable) f.push(h('abbr', { title: 'durable', class: 'tag' }, 'D'));
	if (q.auto_delete) f.push(h('abbr', { title: 'auto-delete', class: 'tag' }, 'AD'));
	if (q.exclusive) f.push(h('abbr', { title: 'exclusive', class: 'tag' }, 'Excl'));
	for (const k of Object.keys(q.arguments || {})) f.push(h('span', { class: 'tag', title: JSON.stringify(q.arguments[k]) }, k));
	return f;
}

export function queues(root) {
	const list = listView({
		id: 'queues',
		path: '/queues',
		caption: 'Queues',
		columns: [
			{ title: 'Virtual host', sort: 'vhost', render: (q) => q.vhost },
			{ title: 'Name', sort: 'name', render: (q) => h('a', { href: route('queues', q.vhost, q.name) }, q.name) },
			{ title: 'Type', render: (q) => q.type || 'classic' },
			{ title: 'Features', render: features },
			{ title: 'State', sort: 'state', render: (q) => q.state || '' },
			{ title: 'Consumers', num: true, sort: 'consumers', render: (q) => fmtNum(q.consumers) },
			{ title: 'Ready', num: true, sort: 'messages_ready', render: (q) => fmtNum(q.messages_ready) },
			{ title: 'Unacked', num: true, sort: 'messages_unacknowledged', render: (q) => fmtNum(q.messages_unacknowledged) },
			{ title: 'Total', num: true, sort: 'messages', render: (q) => fmtNum(q.messages) },
			{ title: 'Incoming', num: true, sort: 'message_stats.publish_details.rate', render: (q) => rateOf(q, 'publish') },
			{ title: 'Deliver / get', num: true, sort: 'message_stats.deliver_get_details.rate', render: (q) => rateOf(q, 'deliver_get') },
			{ title: 'Ack', num: true, sort: 'message_stats.ack_details.rate', render: (q) => rateOf(q, 'ack') },
		],
	});
	const add = form({
		label: 'Add a new queue',
		submit: 'Add queue',
		fields: [
			row('Virtual host', vhostSelect()),
			row('Name', h('input', { name: 'name', id: 'new-queue-name', required: true })),
			row('Durability', select('durable', [['true', 'Durable'], ['false', 'Transient']], 'true')),
			row('Auto delete', select('auto_delete', [['false', 'No'], ['true', 'Yes']], 'false')),
			row('Arguments', h('textarea', { name: 'args', rows: 2, placeholder: '{"x-max-length": 1000}' }), 'a JSON object, optional'),
		],
		fn: async (v) => {
			await api('PUT', `/queues/${enc(v.vhost)}/${enc(v.name)}`, {
				durable: v.durable === 'true', auto_delete: v.auto_delete === 'true',
				arguments: parseObject(v.args, 'Arguments'),
			});
			list.refresh();
			return `Queue ${v.name} declared.`;
		},
	});
	replace(root, h('h1', {}, 'Queues'), list.el, h('section', { class: 'panel' }, h('h2', {}, 'Add a new queue'), add));
	return { refresh: list.refresh };
}

export function queue(root, [vhost, name]) {
	const base = `/queues/${enc(vhost)}/${enc(name)}`;
	const details = h('div', { id: 'queue-details' });
	const bindings = h('div', { id: 'queue-bindings' });
	const got = h('div', { id: 'queue-got' });
	const error = h('div');

	const getForm = form({
		label: 'Get messages',
		submit: 'Get messages',
		fields: [
			row('Ack mode', select('ackmode', [['ack_requeue_true', 'Nack message requeue true'],
				['reject_requeue_true', 'Reject requeue true'], ['ack_requeue_false', 'Automatic ack'],
				['reject_requeue_false', 'Reject requeue false']], 'ack_requeue_true')),
			row('Encoding', select('encoding', [['auto', 'Auto string / base64'], ['base64', 'base64']], 'auto')),
			row('Messages', h('input', { name: 'count', type: 'number', min: 1, value: '1' })),
			row('Truncate', h('input', { name: 'truncate', type: 'number', min: 1, value: '50000' }), 'bytes of each payload shown'),
		],
		fn: async (v) => {
			const msgs = await api('POST', `${base}/get`, {
				count: Number(v.count), ackmode: v.ackmode, encoding: v.encoding, truncate: Number(v.truncate),
			});
			replace(got, msgs.length === 0 ? notice('info', 'Queue is empty.') : msgs.map((m, i) =>
				h('section', { class: 'panel message' }, h('h3', {}, `Message ${i + 1}`), kv([
					['Exchange', m.exchange === '' ? '(AMQP default)' : m.exchange],
					['Routing key', m.routing_key],
					['Redelivered', String(m.redelivered)],
					['Properties', json(m.properties)],
					['Payload', h('span', {}, `${fmtNum(m.payload_bytes)} bytes, encoding: ${m.payload_encoding}`)],
					['', h('pre', { class: 'payload' }, m.payload)],
				]))));
			refresh();
			return undefined;
		},
	});
	const purge = h('button', {
		type: 'button', class: 'danger', id: 'queue-purge',
		onclick: async () => {
			if (!window.confirm(`Purge all messages of queue ${name}?`)) return;
			try {
				await api('DELETE', `${base}/contents`);
				showStatus('ok', 'Queue purged.');
				refresh();
			} catch (e) {
				showStatus('error', errorText(e));
			}
		},
	}, 'Purge messages');
	const ifUnused = h('input', { type: 'checkbox', id: 'del-if-unused' });
	const ifEmpty = h('input', { type: 'checkbox', id: 'del-if-empty' });
	const del = h('button', {
		type: 'button', class: 'danger', id: 'queue-delete',
		onclick: async () => {
			if (!window.confirm(`Delete queue ${name}?`)) return;
			const q = [ifUnused.checked ? 'if-unused=true' : '', ifEmpty.checked ? 'if-empty=true' : ''].filter(Boolean).join('&');
			try {
				await api('DELETE', base + (q ? `?${q}` : ''));
				showStatus('ok', `Queue ${name} deleted.`);
				location.hash = '#/queues';
			} catch (e) {
				showStatus('error', errorText(e));
			}
		},
	}, 'Delete queue');

	replace(root, h('h1', {}, 'Queue ', h('span', { id: 'queue-name' }, name)),
		h('p', { class: 'muted' }, `Virtual host ${vhost}`), error, details,
		h('section', { class: 'panel' }, h('h2', {}, 'Bindings'), bindings,
			h('h3', {}, 'Add binding to this queue'), bindForm(vhost, name, 'queue', () => refresh())),
		h('section', { class: 'panel' }, h('h2', {}, 'Publish message'), publishForm(vhost, '', name, () => refresh())),
		h('section', { class: 'panel' }, h('h2', {}, 'Get messages'),
			h('p', { class: 'muted' }, 'Getting messages is a destructive action unless they are requeued.'), getForm, got),
		h('section', { class: 'panel' }, h('h2', {}, 'Purge'), purge),
		h('section', { class: 'panel' }, h('h2', {}, 'Delete'),
			h('form', { class: 'inline', 'aria-label': 'Delete queue', onsubmit: (ev) => ev.preventDefault() },
				h('label', {}, ifUnused, ' only if unused'), h('label', {}, ifEmpty, ' only if empty'), del)));

	async function refresh() {
		let q, bs;
		try {
			[q, bs] = await Promise.all([get(base), get(`${base}/bindings`)]);
		} catch (e) {
			replace(error, e.status === 404 ? notice('warn', `Queue ${name} in virtual host ${vhost} does not exist.`)
				: notice('error', errorText(e)));
			return;
		}
		replace(error);
		replace(details, h('div', { class: 'charts' },
			h('section', { class: 'panel' }, h('h2', {}, 'Details'), kv([
				['Type', q.type || 'classic'],
				['Features', features(q)],
				['State', q.state || ''],
				['Consumers', fmtNum(q.consumers)],
				['Consumer capacity', `${Math.round((q.consumer_capacity ?? 0) * 100)}%`],
				['Memory', fmtBytes(q.memory ?? 0)],
				['Arguments', kvList(q.arguments)],
				['Policy', q.policy || ''],
				['Exclusive owner', q.owner_pid_details ? q.owner_pid_details.name : 'none'],
			])),
			h('section', { class: 'panel' }, h('h2', {}, 'Messages'), table({
				id: 'queue-messages',
				columns: [
					{ title: '', render: (r) => r[0] },
					{ title: 'Total', num: true, render: (r) => r[1] },
					{ title: 'Ready', num: true, render: (r) => r[2] },
					{ title: 'Unacked', num: true, render: (r) => r[3] },
				],
				rows: [
					['Messages', h('span', { id: 'queue-total' }, fmtNum(q.messages)), h('span', { id: 'queue-ready' }, fmtNum(q.messages_ready)), fmtNum(q.messages_unacknowledged)],
					['Bytes', fmtBytes(q.message_bytes), fmtBytes(q.message_bytes_ready), fmtBytes((q.message_bytes || 0) - (q.message_bytes_ready || 0))],
				],
			}), kv([
				['Paged out', fmtNum(q.messages_paged_out ?? 0)],
				['Publish', rateOf(q, 'publish')], ['Deliver / get', rateOf(q, 'deliver_get')],
				['Ack', rateOf(q, 'ack')], ['Redeliver', rateOf(q, 'redeliver')],
			]))));
		replace(bindings, table({
			id: 'queue-bindings-table',
			columns: [
				{ title: 'From', render: (b) => b.source === '' ? '(Default exchange binding)' : h('a', { href: route('exchanges', vhost, b.source) }, b.source) },
				{ title: 'Routing key', render: (b) => b.routing_key },
				{ title: 'Arguments', render: (b) => kvList(b.arguments) },
				{ title: '', render: (b) => b.source === '' ? '' : unbindButton(b, refresh) },
			],
			rows: bs,
		}));
	}
	return { refresh };
}
