/** What the editor shows of a script before the API analyses it: its scenes (as the API counts
 * them for script help, see domain/fountain.py `scene_spans`) and its speaking characters. */

import type { ScriptFormat } from './types';

const HEADING = /^(?:int\.?\/ext|int\/ext|i\/e|int|ext|est)[. ]/i;
const TRANSITION_END = new Set(['FADE OUT.', 'FADE TO BLACK.', 'CUT TO BLACK.', 'FADE OUT']);

export interface SceneLine {
  number: number;
  heading: string;
}

function isHeading(line: string, nextBlank: boolean): boolean {
  if (/^\.\w/.test(line)) return true;
  return HEADING.test(line) && (nextBlank || line === line.toUpperCase());
}

function splitLines(text: string): { lines: string[]; blank: boolean[] } {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  return { lines, blank: [...lines.map((line) => line.trim() === ''), true] };
}

/** The scenes, numbered from 1, each with its first line. */
export function scenes(format: ScriptFormat, text: string): SceneLine[] {
  const { lines, blank } = splitLines(text);
  const out: SceneLine[] = [];
  lines.forEach((line, i) => {
    const afterBlank = i === 0 || blank[i - 1];
    const starts =
      format === 'fountain'
        ? afterBlank && isHeading(line.trim(), blank[i + 1])
        : !blank[i] && afterBlank;
    if (starts) out.push({ number: out.length + 1, heading: line.trim().replace(/^\./, '') });
  });
  return out;
}

function cueName(line: string): string | null {
  const forced = line.startsWith('@');
  const body = (forced ? line.slice(1) : line).replace(/\^\s*$/, '');
  const name = body.replace(/\([^()]*\)/g, '').replace(/\s+/g, ' ').trim();
  if (!name || /[()]/.test(name)) return null;
  if (!forced && (name !== name.toUpperCase() || name === name.toLowerCase())) return null;
  return name;
}

/** The names of the characters who speak in a Fountain script (a plain script has none). */
export function characters(format: ScriptFormat, text: string): string[] {
  if (format !== 'fountain') return [];
  const { lines, blank } = splitLines(text);
  const names = new Set<string>();
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const afterBlank = i === 0 || blank[i - 1];
    if (!afterBlank || blank[i + 1] || blank[i]) return;
    if (isHeading(line, false) || /^[!~#=>.]/.test(line)) return;
    if (line.endsWith('TO:') || TRANSITION_END.has(line)) return;
    const name = cueName(line);
    if (name) names.add(name.toUpperCase());
  });
  return [...names];
}

/** The script's format guessed from a dropped file's name and text. */
export function guessFormat(fileName: string, text: string): ScriptFormat {
  if (/\.(fountain|spmd)$/i.test(fileName)) return 'fountain';
  return scenes('fountain', text).length > 0 ? 'fountain' : 'plain';
}
