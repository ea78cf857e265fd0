/** Where to go after signing in: the `next` query parameter when it is a path of ours. */
export function nextPath(search: URLSearchParams, fallback = '/projects/'): string {
  const next = search.get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : fallback;
}
