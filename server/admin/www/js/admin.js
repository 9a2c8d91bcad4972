// admin.js: users, virtual hosts, permissions and policies, with RabbitMQ 3.10's JSON for
// /api/users, /api/vhosts, /api/permissions and /api/policies. A broker that does not serve one
// of them (404, or 405 for a write it cannot do) gets a clear notice instead of a table, and the
// page works unchanged once it does.
import { api, enc, get } from './api.js';
import { errorText, fmtNum, h, json, missingNotice, notice, rateOf, replace, showStatus, table, tags } from './dom.js';
import { form, parseObject, row, select, vhostSelect } from './forms.js';

// A page of one admin list: its table, its add form (hidden while the endpoint is missing).
function adminPage(root, { title, id, path, what, columns, addTitle, addForm }) {
	const area = h('div', { id: `${id}-area` });
	const addSection = addForm ? h('section', { class: 'panel', id: `${id}-add` }, h('h2', {}, addTitle), addForm(() => refresh())) : null;
	replace(root, h('h1', {}, title), area, addSection);

	async function refresh() {
		let rows;
		try {
			rows = await get(path);
		} catch (e) {
			replace(area, e.missing ? missingNotice(what, `/api${path}`, e) : notice('error', errorText(e)));
			if (addSection) addSection.hidden = e.missing;
			return;
		}
		if (addSection) addSection.hidden = false;
		replace(area, table({ id: `${id}-table`, caption: what, columns: columns(refresh), rows }));
	}
	return { refresh };
}

function deleteButton(label, path, done) {
	return h('button', {
		type: 'button', class: 'secondary', 'aria-label': label,
		onclick: async () => {
			if (!window.confirm(`${label}?`)) return;
			try {
				await api('DELETE', path);
				showStatus('ok', 'Deleted.');
				done();
			} catch (e) {
				showStatus('error', e.missing ? `This broker cannot do that yet (${errorText(e)}).` : errorText(e));
			}
		},
	}, 'Delete');
}

// A write the broker may not do yet: say so plainly.
async function write(method, path, body) {
	try {
		return await api(method, path, body);
	} catch (e) {
		if (e.missing) throw new Error(`This broker cannot do that yet: ${method} /api${path} answered ${errorText(e)}.`);
		throw e;
	}
}

const tagList = (t) => Array.isArray(t) ? t : String(t || '').split(',').filter(Boolean);

export function users(root) {
	return adminPage(root, {
		title: 'Users', id: 'users', path: '/users', what: 'Users',
		columns: (done) => [
			{ title: 'Name', render: (u) => u.name },
			{ title: 'Tags', render: (u) => tags(tagList(u.tags)) },
			{ title: 'Password', render: (u) => u.password_hash ? `hashed (${u.hashing_algorithm || 'unknown'})` : 'none' },
			{ title: '', render: (u) => deleteButton(`Delete user ${u.name}`, `/users/${enc(u.name)}`, done) },
		],
		addTitle: 'Add a user',
		addForm: (done) => form({
			label: 'Add a user', submit: 'Add user',
			fields: [
				row('Username', h('input', { name: 'name', required: true, autocomplete: 'off' })),
				row('Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password' }),
					'empty: the user cannot log in with a password'),
				row('Tags', h('input', { name: 'tags', placeholder: 'management, monitoring' }),
					'comma-separated: administrator, monitoring, policymaker, management'),
			],
			fn: async (v) => {
				const t = v.tags.split(',').map((s) => s.trim()).filter(Boolean).join(',');
				// RabbitMQ: tags is mandatory; without a password the user cannot log in with one.
				const body = { tags: t };
				if (v.password !== '') body.password = v.password;
				await write('PUT', `/users/${enc(v.name)}`, body);
				done();
				return `User ${v.name} saved.`;
			},
		}),
	});
}

export function vhosts(root) {
	return adminPage(root, {
		title: 'Virtual hosts', id: 'vhosts', path: '/vhosts', what: 'Virtual hosts',
		columns: (done) => [
			{ title: 'Name', render: (v) => v.name },
			{ title: 'Description', render: (v) => v.description || '' },
			{ title: 'Tags', render: (v) => tags(tagList(v.tags)) },
			{ title: 'Ready', num: true, render: (v) => fmtNum(v.messages_ready) },
			{ title: 'Unacked', num: true, render: (v) => fmtNum(v.messages_unacknowledged) },
			{ title: 'Total', num: true, render: (v) => fmtNum(v.messages) },
			{ title: 'Publish', num: true, render: (v) => rateOf(v, 'publish') },
			{ title: 'Deliver / get', num: true, render: (v) => rateOf(v, 'deliver_get') },
			{ title: '', render: (v) => deleteButton(`Delete virtual host ${v.name}`, `/vhosts/${enc(v.name)}`, done) },
		],
		addTitle: 'Add a virtual host',
		addForm: (done) => form({
			label: 'Add a virtual host', submit: 'Add virtual host',
			fields: [
				row('Name', h('input', { name: 'name', required: true })),
				row('Description', h('input', { name: 'description' })),
				row('Tags', h('input', { name: 'tags' }), 'comma-separated'),
			],
			fn: async (v) => {
				await write('PUT', `/vhosts/${enc(v.name)}`, { description: v.description, tags: v.tags });
				done();
				return `Virtual host ${v.name} added.`;
			},
		}),
	});
}

export function permissions(root) {
	return adminPage(root, {
		title: 'Permissions', id: 'permissions', path: '/permissions', what: 'Permissions',
		columns: (done) => [
			{ title: 'User', render: (p) => p.user },
			{ title: 'Virtual host', render: (p) => p.vhost },
			{ title: 'Configure', render: (p) => h('code', {}, p.configure) },
			{ title: 'Write', render: (p) => h('code', {}, p.write) },
			{ title: 'Read', render: (p) => h('code', {}, p.read) },
			{ title: '', render: (p) => deleteButton(`Clear permissions of ${p.user} in ${p.vhost}`,
				`/permissions/${enc(p.vhost)}/${enc(p.user)}`, done) },
		],
		addTitle: 'Set permissions',
		addForm: (done) => form({
			label: 'Set permissions', submit: 'Set permissions',
			fields: [
				row('User', h('input', { name: 'user', required: true })),
				row('Virtual host', vhostSelect()),
				row('Configure regexp', h('input', { name: 'configure', value: '.*' })),
				row('Write regexp', h('input', { name: 'write', value: '.*' })),
				row('Read regexp', h('input', { name: 'read', value: '.*' })),
			],
			fn: async (v) => {
				await write('PUT', `/permissions/${enc(v.vhost)}/${enc(v.user)}`,
					{ configure: v.configure, write: v.write, read: v.read });
				done();
				return `Permissions of ${v.user} in ${v.vhost} set.`;
			},
		}),
	});
}

// Policies and operator policies: the vhost files' policy lines, as /api/policies and
// /api/operator-policies list them (RabbitMQ 3.10's JSON); writes edit those lines.
function policyPage(root, op) {
	const kind = op ? 'operator policy' : 'policy';
	const base = op ? '/operator-policies' : '/policies';
	const id = op ? 'operator-policies' : 'policies';
	const label = op ? 'Add or update an operator policy' : 'Add or update a policy';
	return adminPage(root, {
		title: op ? 'Operator policies' : 'Policies', id, path: base, what: op ? 'Operator policies' : 'Policies',
		columns: (done) => [
			{ title: 'Virtual host', render: (p) => p.vhost },
			{ title: 'Name', render: (p) => p.name },
			{ title: 'Pattern', render: (p) => h('code', {}, p.pattern) },
			{ title: 'Apply to', render: (p) => p['apply-to'] },
			{ title: 'Definition', render: (p) => json(p.definition) },
			{ title: 'Priority', num: true, render: (p) => String(p.priority) },
			{ title: '', render: (p) => deleteButton(`Delete ${kind} ${p.name}`, `${base}/${enc(p.vhost)}/${enc(p.name)}`, done) },
		],
		addTitle: label,
		addForm: (done) => form({
			label, submit: op ? 'Add operator policy' : 'Add policy',
			fields: [
				row('Virtual host', vhostSelect()),
				row('Name', h('input', { name: 'name', required: true })),
				row('Pattern', h('input', { name: 'pattern', required: true, placeholder: '^amq\\.' }), 'a regular expression searched in names'),
				row('Apply to', select('apply_to', [['all', 'Exchanges and queues'], ['exchanges', 'Exchanges'],
					['queues', 'Queues']], 'all')),
				row('Priority', h('input', { name: 'priority', type: 'number', value: '0' })),
				row('Definition', h('textarea', { name: 'definition', rows: 3, required: true,
					placeholder: op ? '{"max-length": 100000}' : '{"message-ttl": 60000, "dead-letter-exchange": "dlx"}' }),
					op ? 'a JSON object: message-ttl, expires, max-length, max-length-bytes, delivery-limit'
						: 'a JSON object of RabbitMQ policy keys (and Warren\'s dispatch)'),
			],
			fn: async (v) => {
				await write('PUT', `${base}/${enc(v.vhost)}/${enc(v.name)}`, {
					pattern: v.pattern, 'apply-to': v.apply_to, priority: Number(v.priority),
					definition: parseObject(v.definition, 'Definition'),
				});
				done();
				return `${op ? 'Operator policy' : 'Policy'} ${v.name} saved.`;
			},
		}),
	});
}

export function policies(root) {
	return policyPage(root, false);
}

export function operatorPolicies(root) {
	return policyPage(root, true);
}
