'use client';

import { useCallback, useEffect, useState } from 'react';
import { useForm } from 'react-hook-form';
import { useTranslation } from 'react-i18next';
import { NoticeAlert, ProblemAlert } from '@/components/Alert';
import type { Notice } from '@/components/Alert';
import { Button } from '@/components/Button';
import { Field, Select, TextArea } from '@/components/Field';
import { api } from '@/lib/api';
import type { Publication } from '@/lib/types';

const PUBLICATION_POLL_MS = 3000;

interface PublishForm {
  title: string;
  description: string;
  privacy: 'private' | 'unlisted' | 'public';
}

/** Publish a completed film to the creator's YouTube channel, and its publications. */
export function Publish({ productionId }: { productionId: string }) {
  const { t } = useTranslation();
  const [connected, setConnected] = useState<boolean | null>(null);
  const [publications, setPublications] = useState<Publication[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [connecting, setConnecting] = useState(false);
  const { register, handleSubmit, formState } = useForm<PublishForm>({
    defaultValues: { title: '', description: '', privacy: 'private' },
  });

  const load = useCallback(async () => {
    try {
      const [connection, list] = await Promise.all([
        api<{ connected: boolean }>('/v1/youtube/connection'),
        api<Publication[]>(`/v1/productions/${productionId}/publications`),
      ]);
      setConnected(connection.connected);
      setPublications(list);
    } catch (failure) {
      setError(failure);
    }
  }, [productionId]);

  useEffect(() => {
    void load();
  }, [load]);

  const pending = publications.some((p) => p.state === 'requested' || p.state === 'uploading');
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(() => void load(), PUBLICATION_POLL_MS);
    return () => clearInterval(timer);
  }, [pending, load]);

  const connect = async () => {
    setConnecting(true);
    setError(null);
    try {
      const consent = await api<{ url: string }>('/v1/youtube/connect');
      window.location.assign(consent.url);
    } catch (failure) {
      setError(failure);
      setConnecting(false);
    }
  };

  const onSubmit = async (form: PublishForm) => {
    setError(null);
    setNotice(null);
    try {
      await api(`/v1/productions/${productionId}/publish`, { method: 'POST', json: form });
      setNotice({ key: 'publish.requested' });
      await load();
    } catch (failure) {
      setError(failure);
    }
  };

  return (
    <section aria-labelledby="publish-heading" className="my-6">
      <h2 id="publish-heading" className="text-xl font-semibold">
        {t('publish.heading')}
      </h2>
      <ProblemAlert error={error} />
      <NoticeAlert notice={notice} />
      {connected !== null && <p>{connected ? t('publish.connected') : t('publish.notConnected')}</p>}
      {connected === false && (
        <Button variant="secondary" busy={connecting} onClick={connect} className="my-2">
          {t('publish.connect')}
        </Button>
      )}
      {connected && (
        <form onSubmit={handleSubmit(onSubmit)} noValidate className="max-w-lg">
          <Field
            label={t('publish.title')}
            maxLength={100}
            error={formState.errors.title?.message}
            {...register('title', { required: t('auth.required') })}
          />
          <TextArea label={t('publish.description')} rows={4} maxLength={5000} {...register('description')} />
          <Select
            label={t('publish.privacy')}
            options={[
              ['private', t('publish.private')],
              ['unlisted', t('publish.unlisted')],
              ['public', t('publish.public')],
            ]}
            {...register('privacy')}
          />
          <Button type="submit" busy={formState.isSubmitting}>
            {t('publish.publish')}
          </Button>
        </form>
      )}
      <h3 className="mt-4 font-semibold">{t('publish.listHeading')}</h3>
      {publications.length === 0 ? (
        <p>{t('publish.none')}</p>
      ) : (
        <ul className="my-2 divide-y rounded border bg-white">
          {publications.map((p) => (
            <li key={p.publication_id} className="p-2">
              {p.title} ({p.privacy}): {p.state}
              {p.failure && `: ${p.failure}`}{' '}
              {p.url && (
                <a href={p.url} className="text-indigo-800 underline" rel="noopener noreferrer" target="_blank">
                  {t('publish.watch')}
                </a>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
