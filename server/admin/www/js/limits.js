// limits.js: the Limits page, as RabbitMQ's Admin > Limits: each virtual host's max-connections
// and max-queues (/api/vhost-limits, RabbitMQ 3.10's JSON), set and cleared (PUT and DELETE of
// /api/vhost-limits/{vhost}/{name}: on Warren, lines of the vhost's file, in force at once), and
// the user limits (/api/user-limits; a broker that cannot store them answers its reason, which
// the form shows).
import { api, enc, get } from './api.js';
import { errorText, h, missingNotice, notice, replace, showStatus, table } from './dom.js';
import { form, row, select, vhostSelect } from './forms.js';

const VHOST_LIMITS = [['max-connections', 'Max connections'], ['max-queues', 'Max queues']];
const USER_LIMITS = [['max-connections', 'Max connections'], ['max-channels', 'Max channels']];

// A limit's value as the API gives it: a negative one is no limit (RabbitMQ lists it).
function shown(v) {
	if (v === undefined || v === null) return '';
	return v < 0 ? `no limit (${v})` : Number(v).toLocaleString('en-US');
}

// RabbitMQ sends an emptied limits map as [] rather than {}.
const valueOf = (o) => (o && typeof o.value === 'object' && !Array.isArray(o.value) ? o.value : {});

function clearButton(vhost, name, done) {
	const label = `Clear ${name} of ${vhost}`;
	return h('button', {
		type: 'button', class: 'secondary', 'aria-label': label,
		onclick: async () => {
			if (!window.confirm(`${label}?`)) return;
			try {
				await api('DELETE', `/vhost-limits/${enc(vhost)}/${enc(name)}`);
				showStatus('ok', 'Cleared.');
				done();
			} catch (e) {
				showStatus('error', errorText(e));
			}
		},
	}, `Clear ${name}`);
}

// A list from path into area as a table; the form section hidden while the endpoint is missing.
async function fill(area, section, path, what, id, columns) {
	let rows;
	try {
		rows = await get(path);
	} catch (e) {
		replace(area, e.missing ? missingNotice(what, `/api${path}`, e) : notice('error', errorText(e)));
		if (section) section.hidden = e.missing;
		return;
	}
	if (section) section.hidden = false;
	replace(area, table({ id, caption: what, columns, rows }));
}

export function limits(root) {
	const vArea = h('div', { id: 'vhost-limits-area' });
	const uArea = h('div', { id: 'user-limits-area' });
	const vForm = form({
		label: 'Set a virtual host limit', submit: 'Set limit',
		fields: [
			row('Virtual host', vhostSelect()),
			row('Limit', select('name', VHOST_LIMITS, 'max-connections')),
			row('Value', h('input', { name: 'value', type: 'number', step: '1', required: true }),
				'a whole number; 0 refuses every one, a negative value is no limit'),
		],
		fn: async (v) => {
			await api('PUT', `/vhost-limits/${enc(v.vhost)}/${enc(v.name)}`, { value: Number(v.value) });
			refresh();
			return `Limit ${v.name} of ${v.vhost} set to ${v.value}.`;
		},
	});
	const uForm = form({
		label: 'Set a user limit', submit: 'Set user limit',
		fields: [
			row('User', h('input', { name: 'user', required: true, autocomplete: 'off' })),
			row('Limit', select('name', USER_LIMITS, 'max-connections')),
			row('Value', h('input', { name: 'value', type: 'number', step: '1', required: true })),
		],
		fn: async (v) => {
			await api('PUT', `/user-limits/${enc(v.user)}/${enc(v.name)}`, { value: Number(v.value) });
			refresh();
			return `Limit ${v.name} of ${v.user} set to ${v.value}.`;
		},
	});
	const vSection = h('section', { class: 'panel', id: 'vhost-limits-add' }, h('h2', {}, 'Set a virtual host limit'), vForm);
	const uSection = h('section', { class: 'panel', id: 'user-limits-add' }, h('h2', {}, 'Set a user limit'), uForm);
	replace(root, h('h1', {}, 'Limits'), h('h2', {}, 'Virtual host limits'), vArea, vSection,
		h('h2', {}, 'User limits'), uArea, uSection);

	async function refresh() {
		await Promise.all([
			fill(vArea, vSection, '/vhost-limits', 'Virtual host limits', 'vhost-limits-table', [
				{ title: 'Virtual host', render: (l) => l.vhost },
				...VHOST_LIMITS.map(([k, t]) => ({ title: t, num: true, render: (l) => shown(valueOf(l)[k]) })),
				{ title: '', render: (l) => VHOST_LIMITS.filter(([k]) => valueOf(l)[k] !== undefined)
					.map(([k]) => clearButton(l.vhost, k, refresh)) },
			]),
			fill(uArea, uSection, '/user-limits', 'User limits', 'user-limits-table', [
				{ title: 'User', render: (l) => l.user },
				...USER_LIMITS.map(([k, t]) => ({ title: t, num: true, render: (l) => shown(valueOf(l)[k]) })),
			]),
		]);
	}
	return { refresh };
}
