'use client';

import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { NoticeAlert, ProblemAlert } from '@/components/Alert';
import type { Notice } from '@/components/Alert';
import { Button } from '@/components/Button';
import { api } from '@/lib/api';
import type { SceneLine } from '@/lib/script';
import type { ScriptRevised, Suggestion } from '@/lib/types';

/** The saved script's scenes, each with script help (tighten, expand) and the suggestion to
 * accept. */
export function SceneHelp({
  projectId,
  sceneLines,
  onRevised,
}: {
  projectId: string;
  sceneLines: SceneLine[];
  onRevised: (revision: number) => void;
}) {
  const { t } = useTranslation();
  const [busy, setBusy] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [suggestion, setSuggestion] = useState<Suggestion | null>(null);
  const [notice, setNotice] = useState<Notice>(null);

  const ask = async (action: 'tighten' | 'expand', scene: number) => {
    setBusy(`${action}-${scene}`);
    setError(null);
    setNotice(null);
    try {
      setSuggestion(
        await api<Suggestion>(`/v1/projects/${projectId}/script/help`, {
          method: 'POST',
          json: { action, scene },
        }),
      );
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy('');
    }
  };

  const accept = async (chosen: Suggestion) => {
    setBusy('accept');
    setError(null);
    try {
      const revised = await api<ScriptRevised>(
        `/v1/projects/${projectId}/script/suggestions/${chosen.suggestion_id}/accept`,
        { method: 'POST' },
      );
      setSuggestion(null);
      setNotice({ key: 'editor.accepted', values: { revision: revised.revision } });
      onRevised(revised.revision);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy('');
    }
  };

  return (
    <section aria-labelledby="scenes-heading" className="my-6">
      <h2 id="scenes-heading" className="text-xl font-semibold">
        {t('editor.scenes')}
      </h2>
      <ProblemAlert error={error} />
      <NoticeAlert notice={notice} />
      {sceneLines.length === 0 && <p>{t('editor.noScenes')}</p>}
      <ol className="my-3 space-y-2">
        {sceneLines.map((scene) => (
          <li key={scene.number} className="flex flex-wrap items-center gap-2 rounded border bg-white p-2">
            <span className="mr-auto">
              <strong>{t('editor.scene', { n: scene.number })}</strong>: {scene.heading || t('editor.untitled')}
            </span>
            <Button variant="secondary" busy={busy === `tighten-${scene.number}`} onClick={() => ask('tighten', scene.number)}>
              {t('editor.tighten', { n: scene.number })}
            </Button>
            <Button variant="secondary" busy={busy === `expand-${scene.number}`} onClick={() => ask('expand', scene.number)}>
              {t('editor.expand', { n: scene.number })}
            </Button>
          </li>
        ))}
      </ol>
      {suggestion && (
        <section aria-labelledby="suggestion-heading" className="rounded border border-indigo-700 bg-white p-3">
          <h3 id="suggestion-heading" className="text-lg font-semibold">
            {t('editor.suggestionHeading', { n: suggestion.scene })}
          </h3>
          <div className="grid gap-3 md:grid-cols-2">
            <div>
              <h4 className="font-medium">{t('editor.original')}</h4>
              <pre className="whitespace-pre-wrap rounded bg-slate-100 p-2">{suggestion.original}</pre>
            </div>
            <div>
              <h4 className="font-medium">{t('editor.suggested')}</h4>
              <pre className="whitespace-pre-wrap rounded bg-emerald-50 p-2">{suggestion.suggested}</pre>
            </div>
          </div>
          <div className="mt-3 flex gap-2">
            <Button busy={busy === 'accept'} onClick={() => accept(suggestion)}>
              {t('editor.accept')}
            </Button>
            <Button variant="secondary" onClick={() => setSuggestion(null)}>
              {t('editor.dismiss')}
            </Button>
          </div>
        </section>
      )}
    </section>
  );
}
