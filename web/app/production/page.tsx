'use client';

import dynamic from 'next/dynamic';
import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { Suspense, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Alert, ProblemAlert } from '@/components/Alert';
import { Button } from '@/components/Button';
import type { SubtitleTrack } from '@/components/Player';
import { ProgressBar } from '@/components/ProgressBar';
import { Publish } from '@/components/Publish';
import { api } from '@/lib/api';
import { useRequireAuth } from '@/lib/auth';
import { FINISHED, useLiveProduction } from '@/lib/live';
import type { Link as MediaLink, Production, Stage } from '@/lib/types';

const Player = dynamic(() => import('@/components/Player'), { ssr: false });

function stageValue(stage: Stage): number {
  if (stage.status === 'completed') return 1;
  return stage.total === 0 ? 0 : stage.done / stage.total;
}

interface Media {
  film: string;
  tracks: (SubtitleTrack & { srt: string })[];
}

/** The signed links of a completed film and its subtitles (they need no header). */
function useMedia(production: Production | null): { media: Media | null; error: unknown } {
  const { t } = useTranslation();
  const [media, setMedia] = useState<Media | null>(null);
  const [error, setError] = useState<unknown>(null);
  const id = production?.production_id;
  const languages = Object.keys(production?.links?.subtitles ?? {}).sort().join(',');
  const ready = production?.links != null;

  useEffect(() => {
    if (!id || !ready) return;
    const base = `/v1/productions/${id}`;
    const link = (path: string) => api<MediaLink>(`${base}/${path}/link`).then((answer) => answer.url);
    const langs = languages ? languages.split(',') : [];
    Promise.all([
      link('film'),
      ...langs.map(async (language) => ({
        language,
        label: t(`languages.${language}`, { defaultValue: language }),
        src: await link(`subtitles/${language}.vtt`),
        srt: await link(`subtitles/${language}.srt`),
      })),
    ])
      .then(([film, ...tracks]) => setMedia({ film: film as string, tracks: tracks as Media['tracks'] }))
      .catch(setError);
  }, [id, ready, languages, t]);

  return { media, error };
}

function ProductionView({ id }: { id: string }) {
  const { t } = useTranslation();
  const { production, error, mode, lastTick, refresh } = useLiveProduction(id);
  const { media, error: mediaError } = useMedia(production);
  const [cancelError, setCancelError] = useState<unknown>(null);
  const [cancelling, setCancelling] = useState(false);

  const cancel = async () => {
    setCancelling(true);
    setCancelError(null);
    try {
      await api(`/v1/productions/${id}/cancel`, { method: 'POST' });
      await refresh();
    } catch (failure) {
      setCancelError(failure);
    } finally {
      setCancelling(false);
    }
  };

  if (!production) {
    return (
      <>
        <h1 className="text-2xl font-bold">{t('production.heading')}</h1>
        {error ? <ProblemAlert error={error} /> : <p role="status">{t('app.loading')}</p>}
      </>
    );
  }
  const running = !FINISHED.includes(production.status);
  return (
    <>
      <h1 className="text-2xl font-bold">{t('production.heading')}</h1>
      <ProblemAlert error={error} />
      <p className="my-2">
        {t('production.status')}: <strong>{production.status}</strong>{' '}
        <span className="text-sm text-slate-700">
          ({[mode === 'live' && t('production.live'), mode === 'polling' && t('production.polling'), t('production.credits', { credits: production.credits })]
            .filter(Boolean)
            .join(' · ')})
        </span>
      </p>
      {production.status === 'cancelled' && <Alert>{t('production.cancelled', { reason: production.cancel_reason })}</Alert>}
      {production.status === 'failed' && <Alert>{t('production.failed', { reason: production.failure })}</Alert>}
      <ProgressBar label={t('production.overall')} value={production.progress} />
      {running && lastTick && (
        <p className="text-sm text-slate-700" aria-live="off">
          {lastTick.stage} · {lastTick.unit} · {lastTick.status}
        </p>
      )}
      <section aria-labelledby="stages-heading" className="my-4">
        <h2 id="stages-heading" className="text-xl font-semibold">
          {t('production.stagesHeading')}
        </h2>
        {production.stages.map((stage) => (
          <ProgressBar
            key={stage.stage}
            label={`${t(`production.stage.${stage.stage}`, { defaultValue: stage.stage })} (${t(`production.stageStatus.${stage.status}`)})`}
            value={stageValue(stage)}
          />
        ))}
      </section>
      {running && (
        <>
          <ProblemAlert error={cancelError} />
          <Button variant="danger" busy={cancelling} onClick={cancel}>
            {t('production.cancel')}
          </Button>
        </>
      )}
      {production.status === 'completed' && (
        <section aria-labelledby="film-heading" className="my-6">
          <h2 id="film-heading" className="text-xl font-semibold">
            {t('production.filmHeading')}
          </h2>
          <ProblemAlert error={mediaError} />
          {media && (
            <>
              <Player src={media.film} title={t('production.filmHeading')} tracks={media.tracks} />
              <ul className="my-3 flex flex-wrap gap-4">
                <li>
                  <a href={media.film} download className="text-indigo-800 underline">
                    {t('production.download')}
                  </a>
                </li>
                {media.tracks.map((track) => (
                  <li key={track.language}>
                    <a href={track.srt} download className="text-indigo-800 underline">
                      {t('production.downloadSrt', { lang: track.language })}
                    </a>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      )}
      <p className="my-4">
        <Link href={`/project/?id=${production.project_id}`} className="text-indigo-800 underline">
          {production.status === 'completed' ? t('production.edit') : t('production.backToProject')}
        </Link>
      </p>
      {production.status === 'completed' && <Publish productionId={id} />}
    </>
  );
}

function ProductionFromQuery() {
  const id = useSearchParams().get('id');
  const { signedIn } = useRequireAuth();
  if (!id) return <ProblemAlert error={new Error('no production id in the address')} />;
  return signedIn ? <ProductionView id={id} /> : null;
}

export default function ProductionPage() {
  return (
    <Suspense>
      <ProductionFromQuery />
    </Suspense>
  );
}
