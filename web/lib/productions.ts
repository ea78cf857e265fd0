/** The productions started from this browser, per project: the API lists a production by its
 * id, not by project, so the editor remembers the ids it started. */

const KEY = 'filmstudio.productions.';

export interface Started {
  production_id: string;
  started_at: string;
}

export function rememberedProductions(projectId: string): Started[] {
  try {
    const stored = JSON.parse(window.localStorage.getItem(KEY + projectId) ?? '[]') as unknown;
    return Array.isArray(stored) ? (stored as Started[]) : [];
  } catch {
    return [];
  }
}

export function rememberProduction(projectId: string, productionId: string): void {
  const known = rememberedProductions(projectId).filter((p) => p.production_id !== productionId);
  const entry = { production_id: productionId, started_at: new Date().toISOString() };
  window.localStorage.setItem(KEY + projectId, JSON.stringify([entry, ...known].slice(0, 50)));
}
