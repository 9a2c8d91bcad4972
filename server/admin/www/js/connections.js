// connections.js: connections (a page each, with its channels and a button that closes it) and
// channels.
import { api, enc, get } from './api.js';
import { errorText, fmtBytes, fmtNum, fmtRate, fmtTime, h, kv, notice, rateOf, replace, route, showStatus, table } from './dom.js';
import { listView } from './list.js';
import { form, row } from './forms.js';

const channelColumns = [
	{ title: 'Channel', sort: 'name', render: (c) => h('a', { href: route('connections', c.connection_details.name) }, c.name) },
	{ title: 'Virtual host', sort: 'vhost', render: (c) => c.vhost },
	{ title: 'User', sort: 'user', render: (c) => c.user },
	{ title: 'Mode', render: (c) => [c.confirm ? h('abbr', { title: 'confirm', class: 'tag' }, 'C') : null,
		c.transactional ? h('abbr', { title: 'transactional', class: 'tag' }, 'T') : null] },
	{ title: 'State', sort: 'state', render: (c) => c.state },
	{ title: 'Consumers', num: true, sort: 'consumer_count', render: (c) => fmtNum(c.consumer_count) },
	{ title: 'Unconfirmed', num: true, sort: 'messages_unconfirmed', render: (c) => fmtNum(c.messages_unconfirmed) },
	{ title: 'Prefetch', num: true, sort: 'prefetch_count', render: (c) => fmtNum(c.prefetch_count) },
	{ title: 'Unacked', num: true, sort: 'messages_unacknowledged', render: (c) => fmtNum(c.messages_unacknowledged) },
	{ title: 'Publish', num: true, sort: 'message_stats.publish_details.rate', render: (c) => rateOf(c, 'publish') },
	{ title: 'Deliver / get', num: true, sort: 'message_stats.deliver_get_details.rate', render: (c) => rateOf(c, 'deliver_get') },
	{ title: 'Ack', num: true, sort: 'message_stats.ack_details.rate', render: (c) => rateOf(c, 'ack') },
];

export function connections(root) {
	const list = listView({
		id: 'connections',
		path: '/connections',
		caption: 'Connections',
		columns: [
			{ title: 'Name', sort: 'name', render: (c) => [h('a', { href: route('connections', c.name) }, c.name),
				c.user_provided_name !== undefined ? h('div', { class: 'muted' }, c.user_provided_name) : null] },
			{ title: 'Virtual host', sort: 'vhost', render: (c) => c.vhost },
			{ title: 'User', sort: 'user', render: (c) => c.user },
			{ title: 'State', sort: 'state', render: (c) => c.state },
			{ title: 'TLS', render: (c) => c.ssl ? 'yes' : 'no' },
			{ title: 'Protocol', render: (c) => c.protocol },
			{ title: 'Channels', num: true, sort: 'channels', render: (c) => fmtNum(c.channels) },
			{ title: 'From client', num: true, sort: 'recv_oct_details.rate', render: (c) => `${fmtBytes(c.recv_oct_details ? c.recv_oct_details.rate : 0)}/s` },
			{ title: 'To client', num: true, sort: 'send_oct_details.rate', render: (c) => `${fmtBytes(c.send_oct_details ? c.send_oct_details.rate : 0)}/s` },
		],
	});
	replace(root, h('h1', {}, 'Connections'), list.el);
	return { refresh: list.refresh };
}

export function connection(root, [name]) {
	const base = `/connections/${enc(name)}`;
	const details = h('div', { id: 'connection-details' });
	const chans = h('div', { id: 'connection-channels' });
	const error = h('div');
	const close = form({
		label: 'Close this connection',
		submit: 'Force close',
		fields: [row('Reason', h('input', { name: 'reason', value: 'Closed via management plugin' }))],
		fn: async (v) => {
			if (!window.confirm(`Close connection ${name}?`)) return undefined;
			await api('DELETE', base, undefined, { 'X-Reason': v.reason });
			showStatus('ok', 'Connection closed.');
			location.hash = '#/connections';
			return undefined;
		},
	});
	replace(root, h('h1', {}, 'Connection ', h('span', { id: 'connection-name' }, name)), error, details,
		h('section', { class: 'panel' }, h('h2', {}, 'Channels'), chans),
		h('section', { class: 'panel' }, h('h2', {}, 'Close this connection'), close));

	async function refresh() {
		let c, cs;
		try {
			[c, cs] = await Promise.all([get(base), get(`${base}/channels`)]);
		} catch (e) {
			replace(error, e.status === 404 ? notice('warn', `Connection ${name} is not open (any more).`)
				: notice('error', errorText(e)));
			return;
		}
		replace(error);
		replace(details, h('section', { class: 'panel' }, h('h2', {}, 'Details'), kv([
			['Virtual host', c.vhost], ['User', c.user], ['State', c.state], ['Protocol', c.protocol],
			['Authentication', c.auth_mechanism || ''], ['TLS', c.ssl ? 'yes' : 'no'],
			['Client', `${c.peer_host}:${c.peer_port}`], ['Connected at', fmtTime(c.connected_at)],
			['Heartbeat', `${c.timeout} s`], ['Frame max', `${fmtNum(c.frame_max)} bytes`],
			['Channel max', fmtNum(c.channel_max)],
			['Received', `${fmtBytes(c.recv_oct)} (${fmtRate(c.recv_oct_details ? c.recv_oct_details.rate : 0)} bytes)`],
			['Sent', `${fmtBytes(c.send_oct)} (${fmtRate(c.send_oct_details ? c.send_oct_details.rate : 0)} bytes)`],
		])));
		const props = Object.entries(c.client_properties || {}).map(([k, v]) => [k, propText(v)]);
		details.append(h('section', { class: 'panel' }, h('h2', {}, 'Client properties'),
			props.length > 0 ? kv(props) : h('p', { class: 'muted' }, 'The client sent none.')));
		replace(chans, table({ id: 'connection-channels-table', columns: channelColumns, rows: cs, empty: 'No channels' }));
	}
	return { refresh };
}

// A client property as text: tables (capabilities) as "key: value" pairs.
function propText(v) {
	if (v !== null && typeof v === 'object' && !Array.isArray(v))
		return Object.entries(v).map(([k, x]) => `${k}: ${propText(x)}`).join(', ');
	return Array.isArray(v) ? v.map(propText).join(', ') : String(v);
}

export function channels(root) {
	const list = listView({ id: 'channels', path: '/channels', caption: 'Channels', columns: channelColumns });
	replace(root, h('h1', {}, 'Channels'), list.el);
	return { refresh: list.refresh };
}
