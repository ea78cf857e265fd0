/** The one fetch wrapper of the studio: same-origin `/v1` calls, bearer token, problem errors. */

const TOKEN_KEY = 'filmstudio.token';
const POSITION_KEY = 'filmstudio.position';

export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type: string;
}

/** An RFC 9457 problem the API answered (or one made up for a network failure). */
export class ApiProblem extends Error {
  readonly status: number;
  readonly detail: string;
  readonly errors: FieldError[];

  constructor(status: number, detail: string, errors: FieldError[] = []) {
    super(detail);
    this.name = 'ApiProblem';
    this.status = status;
    this.detail = detail;
    this.errors = errors;
  }
}

export function getToken(): string | null {
  return typeof window === 'undefined' ? null : window.sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null) {
    window.sessionStorage.removeItem(TOKEN_KEY);
    window.sessionStorage.removeItem(POSITION_KEY);
  } else {
    window.sessionStorage.setItem(TOKEN_KEY, token);
  }
}

/** The highest event position a write of ours answered: reads wait for the read model to reach
 * it (`min_position`), so a page shows what the user just did. */
function lastPosition(): number | null {
  const value = window.sessionStorage.getItem(POSITION_KEY);
  return value === null ? null : Number(value);
}

function notePosition(body: unknown): void {
  if (body !== null && typeof body === 'object' && 'position' in body) {
    const position = (body as { position: unknown }).position;
    const last = lastPosition();
    if (typeof position === 'number' && (last === null || position > last)) {
      window.sessionStorage.setItem(POSITION_KEY, String(position));
    }
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  json?: unknown;
  form?: Record<string, string>;
  multipart?: FormData;
  query?: Record<string, string | number | undefined>;
  /** wait for the read model to show our own writes (GET only; default true) */
  consistent?: boolean;
}

function url(path: string, query: RequestOptions['query'], consistent: boolean): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.set(key, String(value));
  }
  const position = consistent ? lastPosition() : null;
  if (position !== null) params.set('min_position', String(position));
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

async function problemOf(response: Response): Promise<ApiProblem> {
  try {
    const body = (await response.json()) as { detail?: unknown; errors?: FieldError[] | null };
    const detail = typeof body.detail === 'string' ? body.detail : response.statusText;
    return new ApiProblem(response.status, detail, body.errors ?? []);
  } catch {
    return new ApiProblem(response.status, response.statusText || `HTTP ${response.status}`);
  }
}

const READ_RETRIES = 5;

async function send(target: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(target, init);
  } catch (error) {
    throw new ApiProblem(0, `the studio cannot be reached: ${String(error)}`);
  }
}

/** A 503 that says when to retry (e.g. the read model has not reached our last write yet). */
function busy(response: Response): boolean {
  return response.status === 503 && response.headers.has('Retry-After');
}

function pause(response: Response): Promise<void> {
  const seconds = Math.min(Number(response.headers.get('Retry-After')) || 1, 5);
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/** Call the API; resolves to the JSON body, rejects with an ApiProblem. A 401 outside sign-in
 * forgets the token and sends the browser to the sign-in page. */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form !== undefined) {
    body = new URLSearchParams(options.form);
  } else if (options.multipart !== undefined) {
    body = options.multipart;
  }
  const consistent = method === 'GET' && (options.consistent ?? true);
  let response = await send(url(path, options.query, consistent), { method, headers, body });
  for (let retry = 0; method === 'GET' && retry < READ_RETRIES && busy(response); retry++) {
    await pause(response);
    response = await send(url(path, options.query, consistent), { method, headers, body });
  }
  if (!response.ok) {
    const problem = await problemOf(response);
    if (response.status === 401 && !path.startsWith('/v1/auth/')) signInAgain();
    throw problem;
  }
  if (response.status === 204) return undefined as T;
  const result = (await response.json()) as T;
  if (method !== 'GET') notePosition(result);
  return result;
}

/** Forget the token and go to the sign-in page, coming back here afterwards. */
export function signInAgain(): void {
  setToken(null);
  const here = window.location.pathname + window.location.search;
  if (!window.location.pathname.startsWith('/signin')) {
    window.location.assign(`/signin/?next=${encodeURIComponent(here)}`);
  }
}

/** The message to show for any failure: the API's detail, or the error's text. */
export function reasonOf(error: unknown): string {
  if (error instanceof ApiProblem) return error.detail;
  return error instanceof Error ? error.message : String(error);
}
