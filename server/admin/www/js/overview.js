// overview.js: the broker at a glance: object counts, queued messages and message rates drawn
// from /api/overview every 5 seconds (the broker samples its counters every 5 s; the UI keeps the
// last ten minutes of what it saw), and the node and its listeners.
import { get, hasTag } from './api.js';
import { dig, errorText, fmtBytes, fmtNum, h, kv, notice, replace, table } from './dom.js';
import { lineChart } from './chart.js';

const MAX_POINTS = 120; // ten minutes of 5-second samples
const queued = [];
const rates = [];
const QUEUED = ['Ready', 'Unacked', 'Total'];
const RATES = ['Publish', 'Confirm', 'Deliver', 'Get', 'Ack', 'Redeliver'];
const RATE_KEYS = ['publish', 'confirm', 'deliver', 'get', 'ack', 'redeliver'];

function push(a, p) {
	a.push(p);
	if (a.length > MAX_POINTS) a.shift();
}

export function overview(root) {
	const totals = h('ul', { class: 'totals', id: 'ov-totals' });
	const qchart = lineChart({ id: 'ov-queued', title: 'Queued messages', series: QUEUED });
	const rchart = lineChart({ id: 'ov-rates', title: 'Message rates', unit: '/s', series: RATES });
	const node = h('div', { id: 'ov-node' });
	const listeners = h('div', { id: 'ov-listeners' });
	const error = h('div');
	replace(root, h('h1', {}, 'Overview'), error, totals,
		h('div', { class: 'charts' }, h('section', { class: 'panel' }, qchart.el), h('section', { class: 'panel' }, rchart.el)),
		h('section', { class: 'panel' }, h('h2', {}, 'Node'), node),
		h('section', { class: 'panel' }, h('h2', {}, 'Listeners'), listeners));

	async function refresh() {
		let o;
		try {
			o = await get('/overview');
		} catch (e) {
			replace(error, notice('error', errorText(e)));
			return;
		}
		replace(error);
		const t = Date.now();
		const qt = o.queue_totals || {};
		push(queued, { t, v: [qt.messages_ready || 0, qt.messages_unacknowledged || 0, qt.messages || 0] });
		push(rates, { t, v: RATE_KEYS.map((k) => dig(o, `message_stats.${k}_details.rate`) || 0) });
		const ot = o.object_totals || {};
		replace(totals, [['Connections', 'connections'], ['Channels', 'channels'], ['Exchanges', 'exchanges'],
			['Queues', 'queues'], ['Consumers', 'consumers']].map(([label, k]) =>
			h('li', {}, h('span', { class: 'value', id: `ov-${k}` }, fmtNum(ot[k] ?? 0)), label)));
		qchart.draw(queued);
		rchart.draw(rates);
		replace(listeners, table({
			caption: 'Where clients connect',
			columns: [
				{ title: 'Protocol', render: (l) => l.protocol },
				{ title: 'Address', render: (l) => l.ip_address },
				{ title: 'Port', num: true, render: (l) => String(l.port) },
			],
			rows: o.listeners || [],
		}));
		
		const pairs = [['Product', `${o.product_name || ''} ${o.product_version || ''}`],
			['RabbitMQ compatibility', o.rabbitmq_version || ''], ['Node', o.node || '']];
		if (hasTag('monitoring', 'administrator')) {
			try {
				const n = await get(`/nodes/${encodeURIComponent(o.node)}`);
				pairs.push(['Memory used', `${fmtBytes(n.mem_used)} of ${fmtBytes(n.mem_limit)} (high watermark)`],
					['Uptime', `${Math.floor(n.uptime / 1000)} s`], ['Processors', String(n.processors)],
					['Alarms', n.mem_alarm || n.disk_free_alarm
						? [n.mem_alarm ? 'memory' : '', n.disk_free_alarm ? 'disk' : ''].filter(Boolean).join(', ')
						: 'none']);
			} catch { /* the overview still stands */ }
		}
		replace(node, kv(pairs));
	}
	return { refresh };
}
