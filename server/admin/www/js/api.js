// api.js: requests to the management API. The user's Basic credentials live in sessionStorage
// (this tab only, gone when it closes), as RabbitMQ's UI keeps them, and go with every request
// as an Authorization header. X-Requested-With tells warrend not to ask the browser for a login
// of its own (no WWW-Authenticate on a 401): the UI has its login form.

const AUTH = 'warren.auth';
const USER = 'warren.user';

let onLoginLost = null;

// Path segments are percent-encoded whole: the vhost "/" is %2F.
export const enc = encodeURIComponent;

export class ApiError extends Error {
	constructor(status, error, reason) {
		super(reason ? `${error}: ${reason}` : String(error));
		this.status = status;
		this.error = error;
		this.reason = reason;
	}
	// The endpoint is not there (yet): 404 for an unknown path, 405 for a method it lacks.
	get missing() {
		return this.status === 404 || this.status === 405;
	}
}

function base64(text) {
	const bytes = new TextEncoder().encode(text);
	let s = '';
	for (const b of bytes) s += String.fromCharCode(b);
	return btoa(s);
}

export function setCredentials(user, password) {
	sessionStorage.setItem(AUTH, base64(`${user}:${password}`));
	sessionStorage.setItem(USER, user);
}

export function clearCredentials() {
	sessionStorage.removeItem(AUTH);
	sessionStorage.removeItem(USER);
}

export function hasCredentials() {
	return sessionStorage.getItem(AUTH) !== null;
}

// Called when the broker no longer takes the credentials (wrong, or the user lost its tags).
export function setLoginLost(fn) {
	onLoginLost = fn;
}

// One request: resolves to the parsed JSON (or null), rejects with an ApiError.
export async function api(method, path, body, headers = {}) {
	const h = {
		Accept: 'application/json',
		'X-Requested-With': 'XMLHttpRequest',
		...headers,
	};
	const auth = sessionStorage.getItem(AUTH);
	if (auth !== null) h.Authorization = `Basic ${auth}`;
	if (body !== undefined) h['Content-Type'] = 'application/json';
	let res;
	try {
		res = await fetch(`api${path}`, {
			method,
			headers: h,
			body: body === undefined ? undefined : JSON.stringify(body),
			cache: 'no-store',
			credentials: 'omit',
		});
	} catch (e) {
		throw new ApiError(0, 'network_error', `cannot reach the broker (${e.message})`);
	}
	const text = await res.text();
	let data = null;
	if (text !== '') {
		try {
			data = JSON.parse(text);
		} catch {
			data = text;
		}
	}
	if (!res.ok) {
		const err = new ApiError(res.status,
			(data && data.error) || res.statusText || `HTTP ${res.status}`,
			(data && data.reason) || '');
		// Warren spells a failed login not_authorized; a refused action is not_authorised.
		if (res.status === 401 && onLoginLost &&
		    (err.error === 'not_authorized' || err.reason === 'Not management user'))
			onLoginLost(err);
		throw err;
	}
	return data;
}

export const get = (path) => api('GET', path);

// A list endpoint with RabbitMQ's query parameters (an object of them).
export function query(params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params))
		if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
	const s = q.toString();
	return s === '' ? '' : `?${s}`;
}

// Who is logged in ({name, tags}), once /api/whoami said so.
let me = null;
export const whoami = () => me;
export function setWhoami(w) {
	me = w;
}
export const hasTag = (...t) => me !== null && me.tags.some((x) => t.includes(x));
