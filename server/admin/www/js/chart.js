// chart.js: a line chart of samples on a <canvas>, with an HTML legend that also states the
// latest values (the canvas itself is an image: its label says what it shows).
import { h, replace } from './dom.js';

export const COLORS = ['#2f5d8a', '#d9822b', '#3a9a5b', '#a33a8f', '#c23b3b', '#6b7a8f'];

export function lineChart({ id, title, unit, series }) {
	const canvas = h('canvas', { id: `${id}-canvas`, role: 'img', 'aria-label': title, width: 600, height: 200 });
	const legend = h('ul', { class: 'legend', id: `${id}-legend` });
	const el = h('figure', { class: 'chart', id }, h('figcaption', {}, h('h2', {}, title)), canvas, legend);

	// points: [{t (ms), v: [value per series]}], oldest first.
	function draw(points) {
		const dpr = window.devicePixelRatio || 1;
		const w = Math.max(canvas.clientWidth || 600, 200);
		const ht = Math.max(canvas.clientHeight || 200, 100);
		canvas.width = Math.round(w * dpr);
		canvas.height = Math.round(ht * dpr);
		const g = canvas.getContext('2d');
		g.setTransform(dpr, 0, 0, dpr, 0, 0);
		g.clearRect(0, 0, w, ht);
		const left = 56, right = 10, top = 10, bottom = 22;
		const pw = w - left - right, ph = ht - top - bottom;
		let max = 0;
		for (const p of points) for (const v of p.v) max = Math.max(max, v);
		max = niceMax(max);
		g.font = '11px system-ui, sans-serif';
		g.fillStyle = '#5b6677';
		g.strokeStyle = '#e3e7ed';
		g.lineWidth = 1;
		for (let i = 0; i <= 4; i++) {
			const y = top + ph - (ph * i) / 4;
			g.beginPath();
			g.moveTo(left, y + 0.5);
			g.lineTo(left + pw, y + 0.5);
			g.stroke();
			const label = fmtAxis((max * i) / 4) + (unit || '');
			g.fillText(label, left - 6 - g.measureText(label).width, y + 4);
		}
		const now = points.length ? points[points.length - 1].t : Date.now();
		const span = 10 * 60 * 1000; // ten minutes across
		const x = (t) => left + pw - ((now - t) / span) * pw;
		for (let m = 0; m <= 10; m += 2) {
			const label = m === 0 ? 'now' : `-${m} min`;
			g.fillText(label, x(now - m * 60000) - g.measureText(label).width / 2, top + ph + 15);
		}
		series.forEach((s, i) => {
			g.strokeStyle = COLORS[i % COLORS.length];
			g.lineWidth = 2;
			g.beginPath();
			points.forEach((p, k) => {
				const px = x(p.t), py = top + ph - (max ? (p.v[i] / max) * ph : 0);
				if (k === 0) g.moveTo(px, py);
				else g.lineTo(px, py);
			});
			if (points.length === 1) g.arc(x(points[0].t), top + ph - (max ? (points[0].v[i] / max) * ph : 0), 2, 0, 2 * Math.PI);
			g.stroke();
		});
		canvas.dataset.points = String(points.length);
		const last = points.length ? points[points.length - 1].v : series.map(() => 0);
		replace(legend, series.map((s, i) => {
			const sw = h('span', { class: 'swatch', 'aria-hidden': 'true' });
			sw.style.background = COLORS[i % COLORS.length];
			return h('li', {}, sw, `${s}: `, h('strong', { 'data-series': s }, fmtValue(last[i]) + (unit || '')));
		}));
		canvas.setAttribute('aria-label', `${title}: ${series.map((s, i) => `${s} ${fmtValue(last[i])}${unit || ''}`).join(', ')}`);
	}
	return { el, draw };
}

function niceMax(v) {
	if (v <= 0) return 1;
	const p = Math.pow(10, Math.floor(Math.log10(v)));
	for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
	return 10 * p;
}

function fmtAxis(v) {
	if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
	if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
	return String(+v.toFixed(2));
}

function fmtValue(v) {
	return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(1);
}
