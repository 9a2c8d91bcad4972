// definitions.js: export the broker's definitions (GET /api/definitions, or one vhost's) as a
// file, and import a file (POST), in RabbitMQ's JSON.
import { api, enc, get } from './api.js';
import { errorText, h, replace } from './dom.js';
import { form, row, select } from './forms.js';

function vhostChoice(name) {
	const s = select(name, [['', 'All virtual hosts']], '');
	get('/vhosts?columns=name').then((vs) => {
		for (const v of vs) s.appendChild(h('option', { value: v.name }, v.name));
	}).catch(() => {});
	return s;
}

const where = (vhost) => vhost ? `/definitions/${enc(vhost)}` : '/definitions';

function explain(e, path) {
	if (e.missing) return new Error(`Definitions are not available from this broker yet: /api${path} answered ${errorText(e)}.`);
	return e;
}

export function definitions(root) {
	const download = form({
		label: 'Export definitions', submit: 'Download broker definitions',
		fields: [
			row('Virtual host', vhostChoice('vhost')),
			row('File name', h('input', { name: 'file', value: `warren-definitions-${new Date().toISOString().slice(0, 10)}.json` })),
		],
		fn: async (v) => {
			let defs;
			try {
				defs = await api('GET', where(v.vhost));
			} catch (e) {
				throw explain(e, where(v.vhost));
			}
			const url = URL.createObjectURL(new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' }));
			const a = h('a', { href: url, download: v.file || 'definitions.json', hidden: true });
			document.body.appendChild(a);
			a.click();
			a.remove();
			setTimeout(() => URL.revokeObjectURL(url), 10000);
			return `Exported to ${v.file || 'definitions.json'}.`;
		},
	});
	const file = h('input', { type: 'file', name: 'upload', id: 'definitions-file', accept: '.json,application/json', required: true });
	const upload = form({
		label: 'Import definitions', submit: 'Upload broker definitions',
		fields: [row('Definitions file', file), row('Virtual host', vhostChoice('vhost'))],
		fn: async (v) => {
			const f = file.files[0];
			if (!f) throw new Error('Choose a file first.');
			let defs;
			try {
				defs = JSON.parse(await f.text());
			} catch (e) {
				throw new Error(`${f.name} is not JSON: ${e.message}`);
			}
			try {
				await api('POST', where(v.vhost), defs);
			} catch (e) {
				throw explain(e, where(v.vhost));
			}
			return `Definitions from ${f.name} imported.`;
		},
	});
	replace(root, h('h1', {}, 'Definitions'),
		h('section', { class: 'panel', id: 'definitions-export' }, h('h2', {}, 'Export definitions'),
			h('p', { class: 'muted' }, 'Users, virtual hosts, permissions, policies, exchanges, queues and bindings, as RabbitMQ exports them.'),
			download),
		h('section', { class: 'panel', id: 'definitions-import' }, h('h2', {}, 'Import definitions'),
			h('p', { class: 'muted' }, 'A file exported from Warren or RabbitMQ 3.10: what it defines is added to the broker.'),
			upload));
	return {};
}
