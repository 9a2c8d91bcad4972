// forms.js: forms as labelled grids (every input has its <label>; Enter submits), and the forms
// the queue and exchange pages share: publish a message, add a binding.
import { api, enc, get } from './api.js';
import { h, nextId, notice, replace, showStatus, errorText } from './dom.js';

// A row of a form.form: [label, input] (and an optional help line).
export function row(label, input, help) {
	if (!input.id) input.id = nextId('f');
	return [h('label', { for: input.id }, label), input, help ? h('span', { class: 'help' }, help) : null];
}

export function select(name, options, value) {
	return h('select', { name }, options.map((o) => {
		const [v, text] = Array.isArray(o) ? o : [o, o];
		return h('option', { value: v, selected: v === value }, text);
	}));
}

// A form whose submit runs fn(values) and shows what came of it in its result area.
export function form({ label, fields, submit, fn, cls = 'form' }) {
	const result = h('div', { 'aria-live': 'polite' });
	const button = h('button', { type: 'submit' }, submit);
	const f = h('form', { class: cls, 'aria-label': label }, fields, h('span'), h('div', { class: 'actions' }, button));
	f.addEventListener('submit', async (ev) => {
		ev.preventDefault();
		button.disabled = true;
		try {
			const values = Object.fromEntries(new FormData(f).entries());
			for (const el of f.querySelectorAll('input[type=checkbox]')) values[el.name] = el.checked;
			const msg = await fn(values, result);
			if (typeof msg === 'string') replace(result, notice('ok', msg));
		} catch (e) {
			replace(result, notice('error', errorText(e)));
		} finally {
			button.disabled = false;
		}
	});
	return h('div', {}, f, result);
}

// A JSON object typed in a textarea ('' is {}).
export function parseObject(text, what) {
	if (!text || text.trim() === '') return {};
	let v;
	try {
		v = JSON.parse(text);
	} catch (e) {
		throw new Error(`${what} is not JSON: ${e.message}`);
	}
	if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} must be a JSON object`);
	return v;
}

// <select> of the vhosts the user sees (filled when the list comes back).
export function vhostSelect(name = 'vhost', value = '/') {
	const s = select(name, [value], value);
	get('/vhosts?columns=name').then((vs) => {
		replace(s, vs.map((v) => h('option', { value: v.name, selected: v.name === value }, v.name)));
	}).catch(() => {});
	return s;
}

// Publish to exchange x of vhost v (routing key fixed when given: a queue's page).
export function publishForm(vhost, exchange, fixedKey, done = () => {}) {
	const fields = [
		fixedKey === undefined
			? row('Routing key', h('input', { name: 'routing_key' }))
			: row('Routing key', h('input', { name: 'routing_key', value: fixedKey, readonly: true }),
				'to the queue through the default exchange'),
		row('Delivery mode', select('delivery_mode', [['1', '1 - Non-persistent'], ['2', '2 - Persistent']], '1')),
		row('Headers', h('textarea', { name: 'headers', rows: 2, placeholder: '{"key": "value"}' }), 'a JSON object, optional'),
		row('Properties', h('textarea', { name: 'props', rows: 2, placeholder: '{"content_type": "text/plain"}' }),
			'a JSON object of other properties, optional'),
		row('Payload', h('textarea', { name: 'payload', rows: 4 })),
	];
	return form({
		label: 'Publish message',
		fields,
		submit: 'Publish message',
		fn: async (v) => {
			const properties = parseObject(v.props, 'Properties');
			properties.delivery_mode = Number(v.delivery_mode);
			const headers = parseObject(v.headers, 'Headers');
			if (Object.keys(headers).length > 0) properties.headers = headers;
			const r = await api('POST', `/exchanges/${enc(vhost)}/${enc(exchange || 'amq.default')}/publish`, {
				properties,
				routing_key: v.routing_key,
				payload: v.payload,
				payload_encoding: 'string',
			});
			done();
			return r && r.routed ? 'Message published.' : 'Message published, but not routed.';
		},
	});
}

// Bind from/to exchange `name`: dir 'source' (this exchange -> a queue or exchange) or 'queue'.
export function bindForm(vhost, name, dir, done) {
	const fields = dir === 'queue'
		? [row('From exchange', h('input', { name: 'other', required: true }))]
		: [row('To', select('dtype', [['q', 'Queue'], ['e', 'Exchange']], 'q')),
			row('Name', h('input', { name: 'other', required: true }))];
	fields.push(row('Routing key', h('input', { name: 'routing_key' })));
	fields.push(row('Arguments', h('textarea', { name: 'args', rows: 2 }), 'a JSON object, optional'));
	return form({
		label: 'Add binding',
		fields,
		submit: 'Bind',
		fn: async (v) => {
			const body = { routing_key: v.routing_key, arguments: parseObject(v.args, 'Arguments') };
			const path = dir === 'queue'
				? `/bindings/${enc(vhost)}/e/${enc(v.other)}/q/${enc(name)}`
				: `/bindings/${enc(vhost)}/e/${enc(name)}/${v.dtype}/${enc(v.other)}`;
			await api('POST', path, body);
			done();
			return 'Binding added.';
		},
	});
}

// The Unbind button of a binding row.
export function unbindButton(b, done) {
	const t = b.destination_type === 'queue' ? 'q' : 'e';
	return h('button', {
		type: 'button',
		class: 'secondary',
		'aria-label': `Unbind ${b.source} from ${b.destination} (${b.routing_key})`,
		onclick: async () => {
			try {
				await api('DELETE', `/bindings/${enc(b.vhost)}/e/${enc(b.source)}/${t}/${enc(b.destination)}/${enc(b.properties_key)}`);
				showStatus('ok', 'Binding removed.');
				done();
			} catch (e) {
				showStatus('error', errorText(e));
			}
		},
	}, 'Unbind');
}
