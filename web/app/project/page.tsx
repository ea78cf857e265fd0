'use client';

import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { NoticeAlert, ProblemAlert } from '@/components/Alert';
import type { Notice } from '@/components/Alert';
import { Button } from '@/components/Button';
import { Select, TextArea } from '@/components/Field';
import { ProductionForm } from '@/components/ProductionForm';
import { SceneHelp } from '@/components/SceneHelp';
import { ScriptDrop } from '@/components/ScriptDrop';
import { api } from '@/lib/api';
import { useRequireAuth } from '@/lib/auth';
import { characters, guessFormat, scenes } from '@/lib/script';
import type { ProductionSummary, ProjectDetail, ScriptFormat, ScriptRevised } from '@/lib/types';

/** The project's productions (newest first), with their status. */
function ProductionList({ projectId }: { projectId: string }) {
  const { t, i18n } = useTranslation();
  const [rows, setRows] = useState<ProductionSummary[]>([]);
  useEffect(() => {
    api<ProductionSummary[]>(`/v1/projects/${projectId}/productions`)
      .then(setRows)
      .catch(() => setRows([]));
  }, [projectId]);
  return (
    <section aria-labelledby="productions-heading" className="my-6">
      <h2 id="productions-heading" className="text-xl font-semibold">
        {t('production.listHeading')}
      </h2>
      {rows.length === 0 ? (
        <p>{t('production.none')}</p>
      ) : (
        <ul className="my-2 divide-y rounded border bg-white">
          {rows.map((row) => (
            <li key={row.production_id} className="p-2">
              <Link href={`/production/?id=${row.production_id}`} className="text-indigo-800 underline">
                {t('production.open', { date: new Date(row.requested_at).toLocaleString(i18n.language) })}
              </Link>{' '}
              <span className="text-sm">{row.status}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Editor({ projectId }: { projectId: string }) {
  const { t } = useTranslation();
  const [project, setProject] = useState<ProjectDetail | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [text, setText] = useState('');
  const [format, setFormat] = useState<ScriptFormat>('fountain');
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [saving, setSaving] = useState(false);

  const load = useCallback(async () => {
    try {
      const detail = await api<ProjectDetail>(`/v1/projects/${projectId}`);
      setProject(detail);
      setText(detail.script.text ?? '');
      setFormat(detail.script.format ?? 'fountain');
      setLoadError(null);
    } catch (failure) {
      setLoadError(failure);
    }
  }, [projectId]);

  useEffect(() => {
    void load();
  }, [load]);

  const saved = project?.script;
  const savedFormat: ScriptFormat = saved?.format ?? 'fountain';
  const sceneLines = useMemo(() => scenes(savedFormat, saved?.text ?? ''), [savedFormat, saved?.text]);
  const cast = useMemo(() => characters(savedFormat, saved?.text ?? ''), [savedFormat, saved?.text]);
  const unsaved = project !== null && (text !== (saved?.text ?? '') || (text !== '' && format !== savedFormat));

  const save = async () => {
    setSaving(true);
    setError(null);
    setNotice(null);
    try {
      const revised = await api<ScriptRevised>(`/v1/projects/${projectId}/script`, {
        method: 'PUT',
        json: { format, text },
      });
      setNotice({ key: 'editor.saved', values: { revision: revised.revision } });
      await load();
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  };

  if (loadError) return <ProblemAlert error={loadError} />;
  if (!project) return <p role="status">{t('app.loading')}</p>;
  return (
    <>
      <h1 className="text-2xl font-bold">{project.title}</h1>
      <section className="my-4">
        <h2 className="text-xl font-semibold">
          {t('editor.scriptHeading')}
        </h2>
        <ScriptDrop
          onFile={(name, content) => {
            setText(content);
            setFormat(guessFormat(name, content));
            setNotice({ key: 'editor.loaded', values: { name } });
          }}
        />
        <TextArea
          label={t('editor.script')}
          hint={t('editor.scriptHint')}
          rows={16}
          value={text}
          onChange={(event) => setText(event.target.value)}
        />
        <div className="flex flex-wrap items-end gap-4">
          <Select
            label={t('editor.format')}
            value={format}
            onChange={(event) => setFormat(event.target.value as ScriptFormat)}
            options={[
              ['fountain', t('editor.fountain')],
              ['plain', t('editor.plain')],
            ]}
          />
          <div className="my-3">
            <Button busy={saving} onClick={save}>
              {t('editor.save')}
            </Button>
          </div>
        </div>
        {unsaved && <p className="text-sm">{t('editor.unsaved')}</p>}
        <ProblemAlert error={error} />
        <NoticeAlert notice={notice} />
      </section>
      <SceneHelp projectId={projectId} sceneLines={sceneLines} onRevised={() => void load()} />
      <ProductionForm key={project.revision} project={project} cast={cast} />
      <ProductionList projectId={projectId} />
    </>
  );
}

function ProjectFromQuery() {
  const id = useSearchParams().get('id');
  const { signedIn } = useRequireAuth();
  if (!id) return <ProblemAlert error={new Error('no project id in the address')} />;
  return signedIn ? <Editor projectId={id} /> : null;
}

export default function ProjectPage() {
  return (
    <Suspense>
      <ProjectFromQuery />
    </Suspense>
  );
}
