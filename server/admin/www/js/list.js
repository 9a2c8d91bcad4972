// list.js: a list endpoint (queues, exchanges, connections, channels) as a table the broker
// sorts, pages and filters: the page asks for page, page_size, sort, sort_reverse, name and
// use_regex (RabbitMQ's list parameters) and shows the one page it gets back. Its state is kept
// in sessionStorage, so going back to the list finds it as it was.
import { get, query } from './api.js';
import { errorText, fmtNum, h, notice, replace, tbody } from './dom.js';
import { select } from './forms.js';

const PAGE_SIZES = ['20', '50', '100', '500'];

export function listView({ id, path, columns, caption, defaultSort = '' }) {
	const key = `warren.list.${id}`;
	const st = {
		page: 1, page_size: 20, sort: defaultSort, sort_reverse: false, name: '', use_regex: false,
		...JSON.parse(sessionStorage.getItem(key) || '{}'),
	};
	const save = () => sessionStorage.setItem(key, JSON.stringify(st));

	const nameInput = h('input', { type: 'search', id: `${id}-filter`, value: st.name, placeholder: 'name' });
	const regex = h('input', { type: 'checkbox', id: `${id}-regex`, checked: st.use_regex });
	const size = select('page_size', PAGE_SIZES, String(st.page_size));
	size.id = `${id}-page-size`;
	const summary = h('p', { class: 'muted', id: `${id}-summary`, 'aria-live': 'polite' });
	const error = h('div');
	const prev = h('button', { type: 'button', class: 'secondary', onclick: () => go(st.page - 1) }, 'Previous page');
	const next = h('button', { type: 'button', class: 'secondary', onclick: () => go(st.page + 1) }, 'Next page');
	const pageLabel = h('span', { id: `${id}-page` });
	const heads = columns.map((c) => {
		const th = h('th', { scope: 'col', class: c.num ? 'num' : null });
		if (c.sort)
			th.appendChild(h('button', { type: 'button', class: 'sort', onclick: () => sortBy(c.sort) }, c.title));
		else th.appendChild(document.createTextNode(c.title));
		return th;
	});
	let body = tbody(columns, [], 'Loading…');
	const tbl = h('table', { id: `${id}-table` }, caption ? h('caption', { class: 'sr-only' }, caption) : null,
		h('thead', {}, h('tr', {}, heads)), body);

	const filter = h('form', { class: 'inline', role: 'search', 'aria-label': `Filter ${caption || id}` },
		h('label', { for: nameInput.id }, 'Filter'), nameInput,
		h('label', {}, regex, ' Regular expression'),
		h('label', { for: size.id }, 'Page size'), size);
	filter.addEventListener('submit', (ev) => {
		ev.preventDefault();
		applyFilter();
	});
	let debounce = null;
	nameInput.addEventListener('input', () => {
		clearTimeout(debounce);
		debounce = setTimeout(applyFilter, 300);
	});
	regex.addEventListener('change', applyFilter);
	size.addEventListener('change', () => {
		st.page_size = Number(size.value);
		st.page = 1;
		refresh();
	});

	function applyFilter() {
		st.name = nameInput.value;
		st.use_regex = regex.checked;
		st.page = 1;
		refresh();
	}
	function go(p) {
		st.page = p;
		refresh();
	}
	function sortBy(k) {
		if (st.sort === k) st.sort_reverse = !st.sort_reverse;
		else {
			st.sort = k;
			st.sort_reverse = false;
		}
		refresh();
	}
	function showSort() {
		columns.forEach((c, i) => {
			if (c.sort && c.sort === st.sort) heads[i].setAttribute('aria-sort', st.sort_reverse ? 'descending' : 'ascending');
			else heads[i].removeAttribute('aria-sort');
		});
	}

	let seq = 0;
	async function refresh() {
		save();
		showSort();
		const mine = ++seq;
		let r;
		try {
			r = await get(path + query({
				page: st.page, page_size: st.page_size, sort: st.sort,
				sort_reverse: st.sort ? st.sort_reverse : '', name: st.name,
				use_regex: st.name ? st.use_regex : '',
			}));
		} catch (e) {
			if (mine !== seq) return;
			if (e.status === 400 && e.error === 'page_out_of_range' && st.page > 1) {
				st.page = 1; // the list shrank under us
				refresh();
				return;
			}
			replace(error, notice('error', errorText(e)));
			return;
		}
		if (mine !== seq) return; // a newer request went out meanwhile
		replace(error);
		const nb = tbody(columns, r.items, st.name ? 'No items match the filter' : 'No items');
		tbl.replaceChild(nb, body);
		body = nb;
		const pages = Math.max(r.page_count, 1);
		st.page = Math.min(r.page, pages);
		replace(pageLabel, `Page ${st.page} of ${pages}`);
		prev.disabled = st.page <= 1;
		next.disabled = st.page >= pages;
		replace(summary, r.filtered_count === r.total_count
			? `${fmtNum(r.total_count)} item${r.total_count === 1 ? '' : 's'}`
			: `${fmtNum(r.filtered_count)} of ${fmtNum(r.total_count)} items match`);
		summary.dataset.total = r.total_count;
		summary.dataset.filtered = r.filtered_count;
	}

	const el = h('div', { class: 'list', id },
		filter, error, summary, h('div', { class: 'table-wrap' }, tbl),
		h('nav', { class: 'pager', 'aria-label': `${caption || id} pages` }, prev, pageLabel, next));
	return { el, refresh };
}
