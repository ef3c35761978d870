// The search page: one form, the user's recent behaviour, and the model's results beside the
// best baseline's for the same request. Talks only to the JSON API of the same server.
import type { ModelResponse, PhotoRankResponse, RankResponse, UserResponse } from '../src/serve/schemas.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('search-form');
const queryBox = $<HTMLInputElement>('query');
const userSelect = $<HTMLSelectElement>('user');
const status = $<HTMLParagraphElement>('status');
const baselineSelect = $<HTMLSelectElement>('baseline');

/** Best baseline per task (docs/RESULTS.md): personal BM25 for search, ItemCF for recommendation. */
const BASELINE = { search: 'bm25-personal', recommend: 'itemcf' } as const;

async function api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const form = body instanceof FormData;
  const res = await fetch(path, {
    method,
    headers: body === undefined || form ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : form ? body : JSON.stringify(body),
  });
  const data = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(data.message ?? `${res.status} ${res.statusText}`);
  return data;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

const price = (p: number | null) => (p === null ? 'no price' : `$${p.toFixed(2)}`);

function showResults(listId: string, latencyId: string, result: RankResponse): void {
  const list = $<HTMLOListElement>(listId);
  list.replaceChildren(
    ...result.items.map((item) => {
      const li = document.createElement('li');
      li.dataset.itemId = item.id;
      li.append(el('div', 'title', item.title ?? '(no title)'));
      li.append(el('div', 'meta', `${item.brand ?? 'no brand'} · ${item.category} · ${price(item.price)} · score ${item.score.toFixed(3)}`));
      const sid = el('div', 'sid', `${item.sid}  #${item.id}`);
      if (userSelect.value) {
        const click = el('button', '', 'click');
        click.type = 'button';
        click.title = "record a click: it joins this user's history";
        click.addEventListener('click', () => void recordClick(item.id));
        sid.append(click);
      }
      li.append(sid);
      return li;
    }),
  );
  $(latencyId).textContent = `${result.latencyMs.toFixed(1)} ms`;
}

async function showUser(): Promise<void> {
  const list = $<HTMLOListElement>('history');
  if (!userSelect.value) {
    list.replaceChildren(el('li', 'muted', 'anonymous: no history'));
    return;
  }
  const user = await api<UserResponse>('GET', `/v1/users/${encodeURIComponent(userSelect.value)}?limit=10`);
  list.replaceChildren(
    ...user.recent.map((e) => {
      const li = el('li', '', '');
      li.append(el('div', 'title', e.item.title ?? '(no title)'), el('div', 'meta', `${e.type}${e.query ? ` for "${e.query}"` : ''} · ${e.item.category}`));
      return li;
    }),
  );
  $('history-panel').querySelector('h2')!.textContent = `Recent behaviour (${user.historyLength} items)`;
}

async function run(): Promise<void> {
  const query = queryBox.value.trim();
  const task = query ? 'search' : 'recommend';
  if (task === 'recommend' && !userSelect.value) {
    status.textContent = 'type a query, or choose a user to get recommendations';
    return;
  }
  const base = {
    k: Number($<HTMLInputElement>('k').value),
    beam: Number($<HTMLInputElement>('beam').value),
    excludeHistory: $<HTMLInputElement>('exclude-history').checked,
    ...(userSelect.value ? { userId: userSelect.value } : {}),
  };
  const body = query ? { ...base, query } : base;
  status.className = 'muted';
  status.textContent = `${task}…`;
  const compare = baselineSelect.value || BASELINE[task];
  try {
    const [gen, baseline] = await Promise.all([
      api<RankResponse>('POST', `/v1/${task}`, { ...body, system: 'generative' }),
      // A system that cannot serve this task (the cascade needs a query) says why in its column.
      api<RankResponse>('POST', `/v1/${task}`, { ...body, system: compare }).catch((error: Error) => error),
    ]);
    $('baseline-name').textContent = compare;
    showResults('generative-results', 'generative-latency', gen);
    if (baseline instanceof Error) {
      $<HTMLOListElement>('baseline-results').replaceChildren(el('li', 'error', baseline.message));
      $('baseline-latency').textContent = '';
    } else {
      showResults('baseline-results', 'baseline-latency', baseline);
    }
    status.textContent = `${task} for ${userSelect.value ? `user ${userSelect.value} (${gen.historyLength} items of history)` : 'an anonymous user'}`;
  } catch (error) {
    status.className = 'error';
    status.textContent = (error as Error).message;
  }
}

const photoInput = $<HTMLInputElement>('photo');
let preview: string | null = null;

/** Uploads the chosen photo and shows it beside the items found for it. */
async function searchByPhoto(): Promise<void> {
  const file = photoInput.files?.[0];
  if (!file) return;
  if (preview) URL.revokeObjectURL(preview);
  preview = URL.createObjectURL(file);
  $<HTMLImageElement>('photo-preview').src = preview;
  $('photo-panel').hidden = false;
  const form = new FormData();
  form.append('image', file);
  form.append('k', $<HTMLInputElement>('k').value);
  const method = $<HTMLSelectElement>('photo-method').value;
  if (method) form.append('method', method);
  status.className = 'muted';
  status.textContent = `photo search for ${file.name}…`;
  const list = $<HTMLOListElement>('photo-results');
  try {
    const result = await api<PhotoRankResponse>('POST', '/v1/search/image', form);
    list.replaceChildren(
      ...result.items.map((item) => {
        const li = document.createElement('li');
        li.dataset.itemId = item.id;
        li.append(el('div', 'title', item.title ?? '(no title)'), el('div', 'meta', `score ${item.score.toFixed(3)}`), el('div', 'sid', `${item.sid}  #${item.id}`));
        return li;
      }),
    );
    $('photo-latency').textContent = `${result.method} · ${result.latencyMs.toFixed(1)} ms`;
    status.textContent = `photo search for ${file.name}: ${result.items.length} items`;
  } catch (error) {
    list.replaceChildren(el('li', 'error', (error as Error).message));
    $('photo-latency').textContent = '';
    status.className = 'error';
    status.textContent = (error as Error).message;
  }
}

async function recordClick(itemId: string): Promise<void> {
  await api('POST', '/v1/events', { userId: userSelect.value, itemId, type: 'click', query: queryBox.value.trim() || null });
  await showUser();
  await run();
}

async function start(): Promise<void> {
  const health = await api<{ dataset: string; items: number; users: number; baselines: string[]; model: ModelResponse; photo: PhotoRankResponse['model'] | null }>('GET', '/healthz');
  $('photo-model').textContent = health.photo
    ? `photo model ${health.photo.name} of ${health.photo.dataset} (${health.photo.generative ? 'generative' : 'nearest photo only'})`
    : 'no photo model served (gensearch train-image, then serve --photo-dataset)';
  photoInput.disabled = health.photo === null;
  photoInput.addEventListener('change', () => void searchByPhoto());
  $<HTMLSelectElement>('photo-method').addEventListener('change', () => void searchByPhoto());
  baselineSelect.append(...health.baselines.map((name) => new Option(name, name)));
  $('model').textContent = `dataset ${health.dataset} · ${health.items} items · ${health.users} users · model ${health.model.name} (${health.model.version})`;
  const { users } = await api<{ users: { id: string; historyLength: number }[] }>('GET', '/v1/users?limit=30');
  userSelect.replaceChildren(new Option('anonymous', ''), ...users.map((u) => new Option(`${u.id} (${u.historyLength} items)`, u.id)));
  if (users.length) userSelect.value = users[0].id;
  await showUser();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run();
  });
  baselineSelect.addEventListener('change', () => void run());
  $('exclude-history').addEventListener('change', () => void run());
  userSelect.addEventListener('change', () => {
    void showUser().then(run);
  });
}

start().catch((error: Error) => {
  status.className = 'error';
  status.textContent = `could not start: ${error.message}`;
});
